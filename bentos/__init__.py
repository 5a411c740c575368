"""The live scoring service (BentoML): `bentoml serve bentos.service:CustomerML`."""
