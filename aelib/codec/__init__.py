"""The real codec: the ``.aec`` format, entropy coding, encode/decode with a model, files on disk.

``format`` reads and writes the header without TensorFlow; ``entropy`` needs only numpy and
constriction; ``codec`` runs a network; ``files`` loads TensorFlow only when a network must run.
Importing this package loads none of them.
"""
