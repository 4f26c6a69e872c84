"""Rotation pages."""
from django.shortcuts import render

from rotation.models import RotationRequest
from secretsadmin.listing import paginate
from secretsadmin.permissions import visible_objects_or_403


def request_list(request):
    requests = visible_objects_or_403(
        request.user,
        "rotation.view_rotationrequest",
        RotationRequest.objects.select_related("secret__provider", "requested_by"),
    )
    return render(request, "rotation/request_list.html", {"page": paginate(request, requests)})
