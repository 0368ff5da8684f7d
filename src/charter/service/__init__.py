"""The one layer that opens transactions. Every use case is a method of
``RegistryService``; the mixins only split the methods by subject, each on the one
base (``ServiceBase``: dependencies, transactions, access checks) and none on another:
what several use cases share is a function (e.g. ``versions.insert_version``)."""

from charter.service.access import AccessMixin
from charter.service.approvals import ApprovalsMixin
from charter.service.archive import ArchiveMixin
from charter.service.base import Policies, utc_now
from charter.service.checkpoints import CheckpointsMixin
from charter.service.consumers import ConsumersMixin
from charter.service.files import FilesMixin
from charter.service.garbage import GarbageMixin
from charter.service.gates import GatesMixin
from charter.service.imports import ImportsMixin
from charter.service.interfaces import InterfacesMixin
from charter.service.models import ModelsMixin
from charter.service.provenance import ProvenanceMixin
from charter.service.queries import QueriesMixin
from charter.service.retention import RetentionMixin
from charter.service.search import SearchMixin
from charter.service.stages import StagesMixin
from charter.service.uploads import UploadsMixin
from charter.service.versions import VersionsMixin
from charter.service.webhooks import WebhooksMixin


class RegistryService(ModelsMixin, VersionsMixin, StagesMixin, QueriesMixin, SearchMixin,
                      FilesMixin, UploadsMixin, GarbageMixin, ImportsMixin, ArchiveMixin,
                      AccessMixin, GatesMixin, ApprovalsMixin, RetentionMixin, WebhooksMixin,
                      CheckpointsMixin, ProvenanceMixin, InterfacesMixin, ConsumersMixin):
    """The registry's use cases, acting as ``principal``; see ``as_principal``."""


__all__ = ["Policies", "RegistryService", "utc_now"]
