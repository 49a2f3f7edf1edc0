"""The study: training, evaluation, the rate–distortion comparison, figures, reports, the pipeline, the panel.

Everything the numbered notebooks call; it may use every layer below.
"""
