"""Model-side NER code: word segmentation, BIO tags, windows, inference, span decoding, model store."""
