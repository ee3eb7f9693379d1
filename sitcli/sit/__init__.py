"""The synthetic Standard Inference Token: price model, futures, index and hedge experiment."""
