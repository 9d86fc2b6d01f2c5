"""Signs an Account Manager bearer token with PyJWT (a JWT library nobody here wrote).

usage: pyjwt_card_token.py KEY_PEM X5C_CERT_PEM ALG IAT_OFFSET EXP_OFFSET [TAMPER]
KEY_PEM: the card's C.AUT private key; X5C_CERT_PEM: the certificate put into x5c (normally the
key's own); ALG: PS256, ES256 or BP256R1; offsets in seconds from now; TAMPER=1 flips a signature
character. Prints the compact token.
"""
import base64, sys, time

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

key_pem, cert_pem, alg, iat_off, exp_off = sys.argv[1:6]
tamper = len(sys.argv) > 6 and sys.argv[6] == "1"
key = serialization.load_pem_private_key(open(key_pem, "rb").read(), password=None)
cert = x509.load_pem_x509_certificate(open(cert_pem, "rb").read())
x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
now = int(time.time())
claims = {"iat": now + int(iat_off), "exp": now + int(exp_off), "sub": "kvc-check"}
headers = {"x5c": [x5c], "typ": "JWT"}
if alg == "PS256":
    token = jwt.encode(claims, key, algorithm="PS256", headers=headers)
else:
    # brainpoolP256r1: PyJWT's ES256 insists on P-256, so the JWS is assembled here and the
    # signature made by `cryptography` (ECDSA, SHA-256, r||s as JWS wants it).
    def b64url(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    import json
    head = b64url(json.dumps({"alg": alg, **headers}).encode())
    body = b64url(json.dumps(claims).encode())
    der = key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = utils.decode_dss_signature(der)
    token = f"{head}.{body}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
if tamper:
    last = token[-2]
    token = token[:-2] + ("A" if last != "A" else "B") + token[-1]
print(token)
