"""Drives the operator console in headless Chromium (Debian's) with Playwright.

Run by tests/console.rs, which owns the bridge and the phones. Lines on stdin say what
the phones did ("JOINED <member id>"); lines on stdout say what the page did ("READY",
"MUTED"). Any failure exits non-zero with the reason on stderr.
"""

import sys
import time

from playwright.sync_api import expect, sync_playwright

base, token, sound_file = sys.argv[1], sys.argv[2], sys.argv[3]


def tell(line):
    print(line, flush=True)


def wait_line(prefix):
    for line in sys.stdin:
        if line.startswith(prefix):
            return line.split()[1:]
    sys.exit(f"stdin closed before {prefix}")


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    page = browser.new_page()
    outside = []
    page.on("request", lambda r: None if r.url.startswith(base) else outside.append(r.url))
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # The token is asked once and kept for the tab.
    page.goto(f"{base}/console/")
    page.get_by_role("textbox", name="Token").fill(token)
    page.get_by_role("button", name="Use token").click()
    expect(page.get_by_role("link", name="500", exact=True)).to_be_visible()
    page.get_by_role("link", name="500", exact=True).click()
    expect(page.get_by_role("heading", name="Conference 500")).to_be_visible()
    tell("READY")

    # A phone dials in: its row appears within 2 s of its joining.
    (member,) = wait_line("JOINED")
    joined = time.monotonic()
    row = page.locator(f"#member-{member}")
    expect(row).to_be_visible(timeout=2000)
    tell(f"SEEN {time.monotonic() - joined:.2f}")
    # It plays a tone: its talking indicator lights.
    expect(row.locator("[data-talking]")).to_have_attribute("data-talking", "true", timeout=5000)
    # Muting it from the page mutes it (the other phone's recording is checked by the test:
    # 3 s of it heard first).
    page.wait_for_timeout(3000)
    row.get_by_role("button", name="Mute").click()
    expect(row.locator("[data-muted]")).to_have_attribute("data-muted", "true", timeout=3000)
    tell("MUTED")
    # The README's picture, when asked for.
    if len(sys.argv) > 4:
        page.set_viewport_size({"width": 1280, "height": 900})
        page.screenshot(path=sys.argv[4], full_page=True)

    # The settings form shows the API's message next to the field.
    form = page.locator("#settings")
    form.get_by_label("PIN", exact=True).fill("")
    form.get_by_label("Moderator PIN").fill("9999")
    form.get_by_role("button", name="Save settings").click()
    expect(form.locator('[data-error-for="moderator_pin"]')).to_contain_text("pin")
    form.get_by_label("Moderator PIN").fill("")

    # A sound uploaded on the sounds page becomes the entry sound.
    page.get_by_role("link", name="Sounds").click()
    page.get_by_label("Name").fill("bell")
    page.get_by_label("File").set_input_files(sound_file)
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#sounds")).to_contain_text("bell")
    page.goto(f"{base}/console/#/conference/500")
    form = page.locator("#settings")
    form.get_by_label("Entry sound").select_option(label="bell")
    form.get_by_role("button", name="Save settings").click()
    expect(page.locator("#status")).to_have_text("settings saved")
    tell("SETTINGS")

    if outside:
        sys.exit(f"requests outside the bridge: {outside}")
    if errors:
        sys.exit(f"script errors on the page: {errors}")
    browser.close()
    tell("DONE")
