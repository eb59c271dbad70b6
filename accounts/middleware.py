import zoneinfo

from django.utils import timezone, translation


class UserPreferencesMiddleware:
    """Applies a signed-in user's own language and time zone; LocaleMiddleware has already
    chosen the browser's language for everyone else."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            if user.language:
                translation.activate(user.language)
                request.LANGUAGE_CODE = user.language
            if user.time_zone:
                try:
                    timezone.activate(zoneinfo.ZoneInfo(user.time_zone))
                except zoneinfo.ZoneInfoNotFoundError:
                    timezone.deactivate()
            else:
                timezone.deactivate()
        response = self.get_response(request)
        return response
