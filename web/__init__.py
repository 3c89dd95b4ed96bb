"""Label Studio's ML-backend protocol over HTTP: routes, auth, the one exception-to-status table, the backend base
class. Knows Label Studio's JSON, not torch.
"""
