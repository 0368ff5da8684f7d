"""Keys and signatures: checkpoint keys, DSSE envelopes, OpenSSF model-signing bundles."""
