"""Label Studio's ML-backend protocol: routes, auth, JSON errors and the backend base class.

Ours, shaped like label-studio-ml 2.x (whose maintained release is not on PyPI). Knows Label Studio's JSON,
not torch.
"""
