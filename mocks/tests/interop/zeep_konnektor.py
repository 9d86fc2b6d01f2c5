"""A Konnektor client nobody here wrote: zeep built from gematik's WSDL files calls the mock
Konnektor over TLS (trusting only the mock's CA) and writes what it got into OUT_DIR.

usage: zeep_konnektor.py WSDL_DIR BASE_URL CA_PEM OUT_DIR RECIPIENT_CERT_DER RECIPIENT_MAIL
Endpoints are read from the mock's connector.sds, as a Clientmodul does.
"""
import base64, json, os, sys
import xml.etree.ElementTree as ET

import requests
from lxml import etree
import zeep
from zeep.transports import Transport

wsdl_dir, base_url, ca, out_dir, rcpt_cert_path, rcpt_mail = sys.argv[1:7]
session = requests.Session()
# Trust only the mock's CA: without this, REQUESTS_CA_BUNDLE from the environment would win.
session.trust_env = False
session.verify = ca
transport = Transport(session=session, timeout=30)
settings = zeep.Settings(forbid_entities=False, strict=True)

# connector.sds -> endpoint per (service, version)
sds = session.get(base_url + "/connector.sds", timeout=30)
sds.raise_for_status()
SI = "{http://ws.gematik.de/conn/ServiceInformation/v2.0}"
endpoints = {}
for svc in ET.fromstring(sds.content).iter(SI + "Service"):
    for v in svc.iter(SI + "Version"):
        endpoints[(svc.get("Name"), v.get("Version"))] = v.find(SI + "EndpointTLS").get("Location")


def service(wsdl, binding, name, version):
    client = zeep.Client(os.path.join(wsdl_dir, wsdl), settings=settings, transport=transport)
    return client, client.create_service(binding, endpoints[(name, version)])


ctx = {"MandantId": "Mandant1", "ClientSystemId": "KIM-CM", "WorkplaceId": "Workplace1"}
result = {}

_, events = service("EventService.wsdl",
                    "{http://ws.gematik.de/conn/EventService/WSDL/v7.2}EventServiceBinding",
                    "EventService", "7.2.1")
cards = events.GetCards(Context=ctx, CardType="SMC-B")
assert cards.Status.Result == "OK", cards
handle = cards.Cards.Card[0].CardHandle
result["card_handle"] = handle
result["card_type"] = cards.Cards.Card[0].CardType

_, certs = service("CertificateService_v6_0_1.wsdl",
                   "{http://ws.gematik.de/conn/CertificateService/WSDL/v6.0}CertificateServiceBinding",
                   "CertificateService", "6.0.1")
read = certs.ReadCardCertificate(CardHandle=handle, Context=ctx,
                                 CertRefList={"CertRef": ["C.ENC", "C.AUT"]}, Crypt="RSA")
infos = read.X509DataInfoList.X509DataInfo
result["cert_refs"] = [i.CertRef for i in infos]
with open(os.path.join(out_dir, "c_enc.der"), "wb") as f:
    f.write(infos[0].X509Data.X509Certificate)

# SignDocument (7.5.5) with the RecipientEmailsAttribute as a signed property
sig_client, sig = service("SignatureService_V7_5_5.wsdl",
                          "{http://ws.gematik.de/conn/SignatureService/WSDL/v7.5}SignatureServiceBinding",
                          "SignatureService", "7.5.5")
with open(os.path.join(out_dir, "recipient_emails_attr.der"), "rb") as f:
    attr = f.read()
# dss:Value is dss:AnyType (element content only): the attribute goes into a CMSAttribute
# element, as gemSpec_CM_KOMLE's example writes it.
cms_attribute = etree.Element("CMSAttribute")
cms_attribute.text = base64.b64encode(attr).decode()
content = b"Content-Type: text/plain; charset=utf-8\r\n\r\nHallo KIM\r\n"
sign = sig.SignDocument(
    CardHandle=handle, Context=ctx, TvMode="NONE",
    SignRequest=[{
        "RequestID": "req-1",
        "OptionalInputs": {
            "SignatureType": "urn:ietf:rfc:5652",
            "Properties": {"SignedProperties": {"Property": [{
                "Identifier": "RecipientEmailsAttribute",
                "Value": {"_value_1": [cms_attribute]}}]}},
            "IncludeEContent": True,
        },
        "Document": {"Base64Data": {"_value_1": content, "MimeType": "text/plain; charset=utf-8"}},
        "IncludeRevocationInfo": False,
    }])
r = sign[0]
assert r.Status.Result == "OK", r
with open(os.path.join(out_dir, "signed.der"), "wb") as f:
    f.write(r.SignatureObject.Base64Signature._value_1)

# EncryptDocument to the recipient's certificate
_, enc = service("EncryptionService_v6_1_1.wsdl",
                 "{http://ws.gematik.de/conn/EncryptionService/WSDL/v6.1}EncryptionServiceBinding",
                 "EncryptionService", "6.1.1")
with open(rcpt_cert_path, "rb") as f:
    rcpt_cert = f.read()
unprotected = etree.Element("CMSAttribute")
unprotected.text = base64.b64encode(attr).decode()
e = enc.EncryptDocument(
    Context=ctx, RecipientKeys={"Certificate": [rcpt_cert]},
    Document={"Base64Data": {"_value_1": content}},
    OptionalInputs={
        "EncryptionType": "urn:ietf:rfc:5652",
        "UnprotectedProperties": {"Property": [{
            "Identifier": "RecipientEmailsAttribute", "Value": {"_value_1": [unprotected]}}]},
    })
assert e.Status.Result == "OK", e
enveloped = e.Document.Base64Data._value_1
with open(os.path.join(out_dir, "enveloped.der"), "wb") as f:
    f.write(enveloped)

# DecryptDocument of a message to this card's own C.ENC
with open(os.path.join(out_dir, "to_card.der"), "rb") as f:
    to_card = f.read()
d = enc.DecryptDocument(Context=ctx, PrivateKeyOnCard={"CardHandle": handle, "KeyReference": "C.ENC"},
                        Document={"Base64Data": {"_value_1": to_card}})
assert d.Status.Result == "OK", d
result["decrypted"] = d.Document.Base64Data._value_1.decode()

json.dump(result, sys.stdout)
