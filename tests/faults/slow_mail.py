"""A mail backend standing in for a slow SMTP server, so a worker can be killed while a job
is still sending (loaded by name from DJANGO_EMAIL_BACKEND in the worker's environment)."""

import time

from django.core.mail.backends.filebased import EmailBackend

SECONDS_PER_BATCH = 0.5


class SlowFileBackend(EmailBackend):
    def send_messages(self, email_messages):
        time.sleep(SECONDS_PER_BATCH)
        return super().send_messages(email_messages)
