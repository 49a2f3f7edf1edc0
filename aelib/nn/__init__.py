"""The networks: the paper's autoencoder family and Ballé et al.'s GDN transform, VGG16, LPIPS, the hybrid loss.

``layers`` (GDN), ``models``, ``vgg``, ``lpips``, ``losses`` and ``calibration`` (the output
gain and offset fitted after training). They use Keras and the layers below, never the codec.
"""
