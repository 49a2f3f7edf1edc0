"""Reports: tables, figures and prose over the experiments' DataFrames, and the files they go to.

The only code that writes results files (through :class:`aelib.layout.ResultsLayout`) and English sentences.
"""
