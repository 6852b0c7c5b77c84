"""elkhawaga-qr: QR product pages on Cloudflare, one stack per environment."""

import pulumi

from qrsync.bundle import load_bundle
from qrsync.component import ProductPages, ProductPagesArgs
from qrsync.settings import settings_from_pulumi

settings = settings_from_pulumi()
api_key = pulumi.Config().require_secret("syncApiKey")
pages = ProductPages("qr", ProductPagesArgs(settings=settings, bundle=load_bundle(), api_key=api_key))

pulumi.export("workerUrl", pages.worker_url)
pulumi.export("kvNamespaceId", pages.kv_namespace_id)
pulumi.export("queueId", pages.queue_id)
pulumi.export("deadLetterQueueId", pages.dead_letter_queue_id)
pulumi.export("scriptName", pages.script_name)
pulumi.export("bundleSha256", pages.bundle_sha256)
