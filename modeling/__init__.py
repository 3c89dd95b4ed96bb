"""Model code: loading base models, inference at a precision, MC dropout, batching, threads, the model cache."""
