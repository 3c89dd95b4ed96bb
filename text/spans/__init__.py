"""Pure code specific to spans (NER): the BIO tag scheme, Viterbi decoding, spans from word tags, spans to
word tags.
"""
