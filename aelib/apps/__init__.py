"""What users run: the command line, the compression panel and ``aelib reproduce``."""
