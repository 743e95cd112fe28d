import socket

from celery import shared_task

from wfo.services import worker_heartbeat_record


@shared_task(name="wfo.worker_heartbeat", ignore_result=True, soft_time_limit=20, time_limit=30)
def worker_heartbeat() -> None:
    worker_heartbeat_record(hostname=worker_heartbeat.request.hostname or socket.gethostname())
