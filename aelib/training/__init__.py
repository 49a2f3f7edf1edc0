"""Model fitting: the paper's autoencoders, the rate–distortion families and the hyperprior codec.

The only code that trains; it writes models, their coding tables, checkpoints and training histories.
"""
