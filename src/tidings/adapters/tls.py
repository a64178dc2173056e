"""TLS for every connection to a mail server: verification on unless a profile turns it off."""

from __future__ import annotations

import ssl

from tidings.domain.server_profile import ServerProfile


def tls_context(profile: ServerProfile) -> ssl.SSLContext:
    """Verification on by default; a private CA may be named in the profile's options."""
    if not profile.verify_certificates:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=profile.options.get("ca_file") or None)
