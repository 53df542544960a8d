"""Using trained models on new molecules: featurization on the fly, prediction, embeddings."""
