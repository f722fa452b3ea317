"""Browser tests: Debian's chromium driven by Playwright against pytest-django's live server.

Mark each test `@pytest.mark.browser`; `make test-fast` leaves them out. The live server
serves static files itself because django.contrib.staticfiles is installed.
"""

import os
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from clusters import workflow_tasks
from clusters.models import Cluster, Job, Role
from clusters.services import workflows
from tests.factories import make_user
from tests.loop_support import off_the_event_loop

T = TypeVar("T")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One chromium per test module.

    Playwright's sync API keeps an asyncio loop running in this thread while it is open,
    so it must not outlive the browser tests (later asyncio.run() calls would fail), and
    Django's ORM calls made meanwhile (seeding data) would be refused as "async unsafe"
    without DJANGO_ALLOW_ASYNC_UNSAFE, which is set for exactly that span.
    """
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser_page(browser: Browser, live_server) -> Iterator[Page]:
    """A fresh browser context (no cookies) whose relative URLs go to the live server."""
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


def log_in(page: Page, username: str, password: str | None = None) -> None:
    """Log in through the real login form; factories give user `u` password `pw-u`."""
    page.goto("/accounts/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password or f"pw-{username}")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def off_the_browser_loop(work: Callable[[], T]) -> T:
    """Run `work` in a thread of its own: Playwright's sync API keeps an asyncio loop
    running in the test's thread, where the services' async_to_sync refuses to run."""
    return off_the_event_loop(work)


def collect_now(cluster: Cluster, user=None) -> Job:
    """Collect the cluster now, off the browser's loop (see off_the_browser_loop)."""
    from clusters.services import collection

    return off_the_browser_loop(
        lambda: collection.collection_run(collection.collection_create(cluster, user))
    )


@pytest.fixture
def operator_on(lab_cluster):
    """The lab cluster, with operator "olga" on it."""
    make_user("olga", Role.OPERATOR, lab_cluster)
    return lab_cluster


@pytest.fixture
def run_in_web_thread(monkeypatch):
    """No worker here: a queued workflow run happens where it is enqueued (the worker
    path is tested with Celery in tests/workflows)."""

    def run_now(job_id: int) -> None:
        workflows.apply_run(Job.objects.get(pk=job_id))

    monkeypatch.setattr(workflow_tasks.workflow_apply_job, "delay", run_now)
