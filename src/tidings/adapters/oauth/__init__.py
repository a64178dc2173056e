"""OAuth 2.0 for mail servers that take SASL XOAUTH2: access tokens from refresh tokens."""
