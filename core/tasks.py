import socket

from celery import shared_task

from core.services import notification_emails_send, worker_heartbeat_record


@shared_task(name="wfo.worker_heartbeat", ignore_result=True, soft_time_limit=20, time_limit=30)
def worker_heartbeat() -> None:
    worker_heartbeat_record(hostname=worker_heartbeat.request.hostname or socket.gethostname())


@shared_task(name="wfo.notification_emails_send", ignore_result=True, soft_time_limit=240, time_limit=300)
def notification_emails() -> None:
    notification_emails_send()
