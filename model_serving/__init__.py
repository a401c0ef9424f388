"""Model serving: the local SageMaker-protocol endpoint, its backends and the shared schema."""
