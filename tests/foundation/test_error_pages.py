"""Friendly 403/404/500 pages that reveal nothing."""
import pytest
from django.template.loader import render_to_string
from django.urls import reverse


@pytest.mark.django_db
def test_unknown_address_gets_the_friendly_404(client, role_users):
    client.force_login(role_users["alice"])
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert b"There is nothing at this address" in response.content
    assert b"Traceback" not in response.content


@pytest.mark.django_db
def test_forbidden_section_gets_the_friendly_403(client, role_users):
    client.force_login(role_users["alice"])
    response = client.get(reverse("audit:event_list"))
    assert response.status_code == 403
    assert b"Not allowed" in response.content
    assert b"ask an Administrator" in response.content


def test_500_page_renders_without_a_request_or_database():
    html = render_to_string("500.html")
    assert "Something went wrong on our side" in html
    assert "/static/vendor/bootstrap/bootstrap.min.css" in html


@pytest.mark.django_db
def test_out_of_range_page_numbers_fall_back_to_a_valid_page(client, role_users):
    client.force_login(role_users["alice"])
    for page in ("999", "-1", "abc", "1e9"):
        assert client.get(reverse("providers:secret_list"), {"page": page}).status_code == 200
