"""Private file storage: files kept on disk under PRIVATE_MEDIA_ROOT that have no URL.

Like Django's FileSystemStorage with no explicit location, it reads its root from settings
lazily and follows changes to the setting (tests point it at a temporary directory).
"""

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.utils.functional import cached_property


class PrivateStorage(FileSystemStorage):
    def __init__(self, **kwargs):
        kwargs["base_url"] = None
        super().__init__(**kwargs)

    @cached_property
    def base_location(self):
        return self._value_or_setting(self._location, settings.PRIVATE_MEDIA_ROOT)

    def url(self, name):
        raise ValueError("Private files have no URL; staff read them through the console.")

    def _clear_cached_properties(self, setting, **kwargs):
        super()._clear_cached_properties(setting, **kwargs)
        if setting == "PRIVATE_MEDIA_ROOT":
            self.__dict__.pop("base_location", None)
            self.__dict__.pop("location", None)
