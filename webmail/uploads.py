"""Reading uploads: the guard in front of Django's temporary-file handler.

Attachments arrive as files of a multipart POST. Django's TemporaryFileUploadHandler
writes each to a temporary file as it comes (settings.FILE_UPLOAD_HANDLERS), so nothing
is held in memory; this handler stands before it and stops writing once the files of one
request add up to more than the attachment limit (the admin's, else
MAIL_MAX_ATTACHMENT_BYTES: webmail.services.compose.attachment_limit), so a huge upload
cannot fill the disk either. The file that crosses the limit is skipped (its temporary
file removed) and its name is noted on the request, for the form to say which file was
left out and why.
The limit per message, across several uploads, is the compose service's to check.
"""

from django.core.files.uploadhandler import FileUploadHandler, SkipFile

from webmail.services.compose import attachment_limit

REFUSED_ATTRIBUTE = "uploads_refused"  # request attribute: names of the skipped files


def uploads_refused(request) -> list[str]:
    """The names of the files this request brought that were too large to keep."""
    return list(getattr(request, REFUSED_ATTRIBUTE, []))


class AttachmentLimitHandler(FileUploadHandler):
    def __init__(self, request=None):
        super().__init__(request)
        self.kept = 0  # bytes of the files of this request that were kept
        self.current = 0  # bytes of the file being read
        self.limit: int | None = None  # read with the first file, so other posts cost nothing

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        if self.limit is None:
            self.limit = attachment_limit()
        self.kept += self.current
        self.current = 0

    def receive_data_chunk(self, raw_data, start):
        self.current += len(raw_data)
        if self.kept + self.current > self.limit:
            if self.request is not None:
                refused = getattr(self.request, REFUSED_ATTRIBUTE, [])
                refused.append(self.file_name or "")
                setattr(self.request, REFUSED_ATTRIBUTE, refused)
            self.current = 0
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler makes the file
