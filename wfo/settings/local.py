"""Developer machine and `make run`: debug pages on, mail printed to the console."""

from wfo.settings.base import *  # noqa: F403
from wfo.settings.base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
# A developer's receiver listens on localhost: a source system may subscribe it here.
WFO_WEBHOOK_PRIVATE_ADDRESSES_ALLOWED = env.bool("WFO_WEBHOOK_PRIVATE_ADDRESSES_ALLOWED", default=True)
