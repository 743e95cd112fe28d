import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wfo.settings.local")
application = get_wsgi_application()

# What starting loaded (Django, the apps, their modules) lives as long as the worker: frozen
# out of the collector's sight, a full collection scans only what requests make. Unfrozen,
# every few requests of a page with hundreds of rows paused about 80 ms to scan the whole
# program (bench/README.md, "Live agents").
gc.collect()
gc.freeze()
