"""Object storage for every server: an S3 client that names its failures, the access policy with one
canonical key form and per-user folders, and `s3://` inputs.
"""
