"""Chen et al., Variational Lossy Autoencoder (ICLR 2017): the model so far; the pipeline is to come."""
