# verify_signature below is the snippet from Frugally's "Webhook payloads" page
# ("Verifying webhook signatures"), copied
# verbatim except that its Python indentation, lost in the seed text, is restored.
# The __main__ harness is Herald's, for wire's tests:
#
#   python3 frugally_verify.py BODY_FILE SECRET SIGNATURE_HEADER
#
# exits 0 when verify_signature returns True, 1 when it returns False.

import hmac
import hashlib

def verify_signature(payload_body, signature_header, secret):
    expected = hmac.new(
        secret.encode('utf-8'),
        payload_body,
        hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(f"sha256={expected}", signature_header)


if __name__ == "__main__":
    import sys

    body_file, secret, header = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(body_file, "rb") as f:
        body = f.read()
    sys.exit(0 if verify_signature(body, header, secret) else 1)
