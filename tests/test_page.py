"""The page on the device (docs/http.md): a real daemon streaming a generated video at its pace with
``--http 127.0.0.1:PORT --clips-dir C --dataset-dir D``, driven by Debian's Chromium through Playwright and by
plain HTTP requests for what a browser would never send. One daemon and one browser for the module."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import socket
from pathlib import Path

import pytest

from edge_lrcn.convert.synth import make_sequence
from edge_lrcn.models import default_model_path
from edge_lrcn.web.api import Page
from edge_lrcn.web.server import PageOptions
from tests.broker import free_port
from tests.conftest import in_ci, launch, run_cli, wait_until

CHROMIUM = Path("/usr/bin/chromium")
SEGMENTS = [("still", 3.0)] + 2 * [(lab, 5.0) for lab in ("left", "still", "right", "still", "up", "still", "down",
                                                          "still", "left", "still", "right", "still")]  # 123 s


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=body, headers={"Host": f"127.0.0.1:{port}", **(headers or {})})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, (json.loads(data) if r.getheader("Content-Type") == "application/json" else data), r


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    root = tmp_path_factory.mktemp("page")
    video = root / "v.avi"
    make_sequence(video, SEGMENTS, seed=27)
    port = free_port()
    (root / "state").mkdir()
    shutil.copyfile(default_model_path(), root / "state" / "model.previous.lrcn")  # as a fleet push leaves it
    proc = launch("run", "--source", video, "--realtime", "--http", f"127.0.0.1:{port}", "--state-dir", root / "state",
                  "--clips-dir",
                  root / "clips", "--dataset-dir", root / "data", "--pre-roll", "1", "--post-roll", "1",
                  "--stats-interval", "0")
    assert wait_until(lambda: _up(port) or proc.poll() is not None, 60), "the page did not come up"
    assert proc.poll() is None, proc.stderr.read()
    # frames are classified, and with nobody watching no JPEG is encoded for the page
    assert wait_until(lambda: request(port, "GET", "/api/status")[1]["ms_head"] is not None, 60, 0.2)
    assert request(port, "GET", "/api/status")[1]["jpegs_encoded"] == 0
    yield {"port": port, "root": root, "proc": proc}
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err[-2000:]


def _up(port: int) -> bool:
    try:
        return request(port, "GET", "/api/status")[0] == 200
    except OSError:
        return False


def finished_event(port: int) -> dict | None:
    events = request(port, "GET", "/api/events")[1]["events"]
    return next((e for e in events if e["status"] == "done" and e["label"] != "still" and not e["labelled"]), None)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if in_ci():
            pytest.fail("CI=true and chromium is missing (apt-get install chromium)", pytrace=False)
        pytest.skip("chromium is not installed (sudo bash scripts/test.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser, daemon):
    p = browser.new_page(viewport={"width": 1280, "height": 900})
    p.goto(f"http://127.0.0.1:{daemon['port']}/")
    yield p
    p.close()


def test_live_view_has_pixels_and_shows_the_running_activity(page, daemon):
    page.wait_for_function("() => { const i = document.getElementById('live'); return i.complete && "
                           "i.naturalWidth > 0; }", timeout=30_000)
    spread = page.evaluate("""() => { const i = document.getElementById('live');
        const c = document.createElement('canvas');
        c.width = i.naturalWidth; c.height = i.naturalHeight; const g = c.getContext('2d'); g.drawImage(i, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data; let lo = 255, hi = 0;
        for (let k = 0; k < d.length; k += 4) { lo = Math.min(lo, d[k + 1]); hi = Math.max(hi, d[k + 1]); }
        return hi - lo; }""")
    assert spread > 30  # a real picture, not a blank or black image
    page.wait_for_function("() => ['left', 'right', 'up', 'down'].includes(document.getElementById('activity')"
                           ".textContent)", timeout=60_000)
    assert page.locator(".bar").count() == 5 and page.locator(".region").count() == 1
    status = request(daemon["port"], "GET", "/api/status")[1]
    assert status["viewers"] == 1 and status["jpegs_encoded"] > 0 and status["ms_encoder"] > 0
    page.screenshot(path=str(daemon["root"] / "live.png"))


def test_a_clip_plays_and_labelling_it_puts_it_in_the_dataset(page, daemon):
    port, data = daemon["port"], daemon["root"] / "data"
    assert wait_until(lambda: finished_event(port) is not None, 60, 0.5), "no finished clip"
    page.evaluate("refreshEvents()")
    ev = finished_event(port)
    card = page.locator(f'.event[data-id="{ev["id"]}"]')
    card.locator("button.play").click()
    page.wait_for_function("() => document.getElementById('video').readyState >= 2", timeout=60_000)
    page.keyboard.press("Escape")
    card.locator("input").fill("wave")
    card.locator("button.primary").click()
    card.locator(".done").wait_for(timeout=30_000)
    added = list((data / "wave").rglob("*.mp4"))
    assert len(added) == 1
    assert [k for k in ev if "clip" in k] == ["clip_url"]
    assert added[0].name == ev["file"] and added[0].parent.parent == data / "wave"  # DATA/wave/<day>-<camera>/


def test_a_cross_origin_post_is_refused(browser, daemon):
    port, data = daemon["port"], daemon["root"] / "data"
    ev = request(port, "GET", "/api/events")[1]["events"][0]
    other = browser.new_page()
    other.goto(f"http://localhost:{port}/static/style.css")  # another origin (localhost, not 127.0.0.1)
    with other.expect_response(lambda r: r.url.endswith("/label")) as resp:
        other.evaluate(f"""() => fetch('http://127.0.0.1:{port}/api/events/{ev["id"]}/label', {{method: 'POST',
            mode: 'no-cors', headers: {{'Content-Type': 'text/plain'}},
            body: '{{"label": "evil"}}'}}).catch(() => 0)""")
    assert resp.value.status == 403
    other.close()
    assert not (data / "evil").exists()


@pytest.mark.parametrize("body, status, says", [
    (b"not json", 400, "not JSON"), (b"[1]", 400, "JSON object"), (b'{"label": "../../x"}', 400, "bad label"),
    (b'{"label": "a/b"}', 400, "bad label"), (b'{"label": ".."}', 400, "bad label"), (b"{}", 400, "give"),
    (b"x" * 20000, 413, "over"), (b"[" * 15000, 400, "nested too deeply"), (b'{"label": "\xff"}', 400, "not JSON"),
])
def test_bad_label_requests_get_a_4xx_with_a_message_and_write_nothing(daemon, body, status, says):
    port, root = daemon["port"], daemon["root"]
    assert wait_until(lambda: finished_event(port) is not None, 60, 0.5)
    before = sorted(p for p in root.rglob("*") if "data" in p.parts)
    code, answer, _ = request(port, "POST", f"/api/events/{finished_event(port)['id']}/label", body,
                              {"Content-Type": "application/json"})
    assert code == status and says in answer["error"]
    assert sorted(p for p in root.rglob("*") if "data" in p.parts) == before
    assert daemon["proc"].poll() is None


@pytest.mark.parametrize("path", ["/static/..%2fapi.py", "/static/../../config.py", "/api/events/..%2f..%2fx/clip",
                                  "/api/events/20261125T160041.123Z_x/clip", "/etc/passwd", "/api/events/x/snapshot"])
def test_hostile_paths_and_unknown_ids_get_404(daemon, path):
    code, answer, _ = request(daemon["port"], "GET", path)
    assert code == 404 and answer["error"]


def test_a_symlink_in_the_clips_folder_is_not_followed(daemon, tmp_path):
    clips = daemon["root"] / "clips"
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    stem = "20261125T160041.123Z_left"
    (clips / f"{stem}.json").write_text(json.dumps({"clip": f"{stem}.mp4", "snapshot": f"{stem}.jpg"}))
    (clips / f"{stem}.mp4").symlink_to(secret)
    (clips / f"{stem}.jpg").symlink_to(secret)
    try:
        for what in ("clip?original=1", "snapshot"):
            code, answer, _ = request(daemon["port"], "GET", f"/api/events/{stem}/{what}")
            assert code == 404 and b"secret" not in json.dumps(answer).encode()
    finally:
        for ext in (".json", ".mp4", ".jpg"):
            (clips / f"{stem}{ext}").unlink()


def test_a_non_loopback_bind_without_a_password_exits_2(daemon):
    video = daemon["root"] / "v.avi"
    proc = run_cli("run", "--source", video, "--http", f"0.0.0.0:{free_port()}", timeout=120)
    assert proc.returncode == 2 and "http_password_file" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_with_a_password_every_api_call_needs_the_session_cookie(tmp_path):
    (tmp_path / "pw").write_text("correct horse battery\n")
    port = free_port()
    page = Page(PageOptions("127.0.0.1", port, str(tmp_path / "pw"), str(tmp_path / "data"), str(tmp_path)), ["a"])
    page.start(lambda: {"labels": ["a"], "kept": 0, "activity": "none", "confidence": 0.0})
    try:
        assert request(port, "GET", "/api/events")[0] == 401
        assert request(port, "POST", "/api/events/x/label", b'{"label": "a"}')[0] == 401
        assert request(port, "POST", "/api/regions", b'{"regions": []}')[0] == 401
        assert request(port, "POST", "/api/login", b'{"password": "wrong"}')[0] == 401
        code, _, r = request(port, "POST", "/api/login", b'{"password": "correct horse battery"}',
                             {"Origin": f"http://127.0.0.1:{port}"})
        cookie = r.getheader("Set-Cookie")
        assert code == 200 and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        auth = {"Cookie": cookie.split(";")[0]}
        assert request(port, "GET", "/api/events", headers=auth)[0] == 200
        assert request(port, "POST", "/api/events/x/label", b'{"label": "a"}',
                       {**auth, "Origin": "http://evil.example"})[0] == 403
        assert request(port, "GET", "/api/status", headers={"Host": "evil.example"})[0] == 403
    finally:
        page.close()


def test_the_model_view_and_the_dataset_zip(daemon):
    import io
    import zipfile

    port = daemon["port"]
    code, m, _ = request(port, "GET", "/api/model")
    assert code == 200 and m["labels"] == ["down", "left", "right", "still", "up"]
    assert 0.9 < m["accuracy"] <= 1 and m["estimate"].startswith("held-out") and len(m["confusion_matrix"]) == 5
    assert m["clips_per_class"] == {lab: 80 for lab in m["labels"]}
    assert m["previous"]["model"] == m["model"] and m["previous"]["accuracy"] == m["accuracy"]
    assert wait_until(lambda: finished_event(port) is not None, 60, 0.5)
    assert request(port, "POST", f"/api/events/{finished_event(port)['id']}/label", b'{"label": "zipped"}')[0] == 200
    code, body, r = request(port, "GET", "/api/dataset.zip")
    names = zipfile.ZipFile(io.BytesIO(body)).namelist()
    assert code == 200 and all(n.count("/") == 2 for n in names), names  # <label>/<day>-<camera>/<clip>
    assert any(n.startswith("zipped/") for n in names)


def test_info_report_prints_what_the_page_shows_as_text_and_json_raw(default_bundle):
    from edge_lrcn.model.bundle import read_bundle

    report = read_bundle(str(default_bundle)).report
    text = run_cli("info", "--report", timeout=120)
    acc, clips = 100 * report["int8_streaming"]["accuracy"], report["gate"]["test_clips"]
    assert text.returncode == 0 and f"accuracy {acc:.1f}% (held-out: {clips} test clips" in text.stdout
    assert "confusion over the test windows" in text.stdout and "trained on: down 80" in text.stdout
    raw = json.loads(run_cli("info", "--report", "--json", timeout=120).stdout)
    assert raw["report"] == report


def test_at_most_four_viewers_and_stalled_connections_never_stop_the_daemon(daemon):
    port = daemon["port"]
    watching = request(port, "GET", "/api/status")[1]["viewers"]  # the browser's page, when it is open
    streams, refused = [], None
    for _ in range(6):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/api/live.mjpg", headers={"Host": f"127.0.0.1:{port}"})
        r = conn.getresponse()
        if r.status != 200:
            refused = (r.status, json.loads(r.read())["error"])
            break
        streams.append(r)
    assert refused is not None and refused[0] == 503 and "viewers" in refused[1] and len(streams) == 4 - watching
    assert request(port, "GET", "/api/status")[1]["viewers"] == 4
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]  # connections that never speak
    for s in idle + streams:
        s.close()
    assert wait_until(lambda: _status_or_none(port) is not None and _status_or_none(port)["viewers"] == watching, 30,
                      0.2)
    assert daemon["proc"].poll() is None


def _status_or_none(port: int) -> dict | None:
    try:
        code, body, _ = request(port, "GET", "/api/status")
        return body if code == 200 else None
    except OSError:
        return None


def test_a_false_alarm_goes_to_the_idle_class_and_a_dataset_clip_can_be_deleted(daemon):
    port, data = daemon["port"], daemon["root"] / "data"
    assert wait_until(lambda: finished_event(port) is not None, 60, 0.5)
    code, answer, _ = request(port, "POST", f"/api/events/{finished_event(port)['id']}/label", b'{"false_alarm": true}')
    assert code == 200 and answer["label"] == "still"  # the embedded model's idle class (idle_labels)
    label, group, name = answer["path"].split("/")
    assert (data / answer["path"]).is_file()
    ds = request(port, "GET", "/api/dataset")[1]
    assert name in ds["classes"]["still"]["groups"][group]
    for bad in ({"label": "still", "group": "..", "name": name}, {"label": "still", "group": group, "name": "../x.mp4"},
                {"label": "..", "group": group, "name": name}):
        assert request(port, "POST", "/api/dataset/delete", json.dumps(bad).encode())[0] == 400
    assert request(port, "POST", "/api/dataset/delete", json.dumps(
        {"label": label, "group": group, "name": "nope.mp4"}).encode())[0] == 404
    code, _, _ = request(port, "POST", "/api/dataset/delete", json.dumps(
        {"label": label, "group": group, "name": name}).encode())
    assert code == 200 and not (data / answer["path"]).exists()


def test_record_a_new_clip_from_the_page_with_a_countdown(page, daemon):
    data = daemon["root"] / "data"
    page.fill("#record-label", "wave_hello")
    page.fill("#record-seconds", "2")
    page.click("#record-form button")
    page.wait_for_function("() => document.getElementById('record-state').textContent.startsWith('get ready')")
    page.wait_for_function("() => document.getElementById('record-state').textContent.startsWith('saved')",
                           timeout=60_000)
    clips = list((data / "wave_hello").rglob("*.mp4"))
    assert len(clips) == 1 and clips[0].parent.parent == data / "wave_hello"
    import cv2

    cap = cv2.VideoCapture(str(clips[0]))
    n, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    assert 1.5 <= n / fps <= 2.5, (n, fps)  # 2 s of video, at the rate the frames came
    assert request(daemon["port"], "POST", "/api/record", b'{"label": "x", "seconds": 99}')[0] == 400
    # and deleted again from the dataset view (after the confirmation)
    page.on("dialog", lambda d: d.accept())
    row = page.locator("#dataset tr", has_text="wave_hello")
    row.wait_for()  # the view refreshed after the recording
    row.locator("details summary").click()
    page.locator(".clipname", has_text=clips[0].name).locator("button").click()
    assert wait_until(lambda: not clips[0].exists(), 30)


def test_after_a_restart_the_events_come_from_the_clips_sidecars(daemon):
    port = daemon["port"]
    assert wait_until(lambda: finished_event(port) is not None, 60, 0.5)
    done = {e["id"] for e in request(port, "GET", "/api/events")[1]["events"] if e["status"] == "done"}
    fresh_port = free_port()  # a new page over the same folders: nothing in its memory
    fresh = Page(PageOptions("127.0.0.1", fresh_port, None, str(daemon["root"] / "data"),
                             str(daemon["root"] / "clips")), ["left"])
    fresh.start(lambda: {})
    try:
        events = request(fresh_port, "GET", "/api/events")[1]["events"]
        assert done <= {e["id"] for e in events if e["status"] == "done" and e["clip_url"] and e["snapshot_url"]}
        code, body, r = request(fresh_port, "GET", events[0]["clip_url"])
        assert code == 200 and r.getheader("Content-Type") == "video/webm" and body[:4] == b"\x1a\x45\xdf\xa3"
    finally:
        fresh.close()


# ---- the region editor (issue 27 item 5): the daemon started without regions; these run last in the module ----

def _draw(page, x0: float, y0: float, x1: float, y1: float) -> None:
    """Drag with the mouse over the editor's overlay, from (x0, y0) to (x1, y1) as fractions of the image."""
    page.locator("#editor").scroll_into_view_if_needed()  # the mouse acts at viewport coordinates
    box = page.locator("#editor").bounding_box()
    page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + x1 * box["width"], box["y"] + y1 * box["height"], steps=6)
    page.mouse.up()


def test_a_region_drawn_with_the_mouse_is_saved_applied_live_and_kept(page, daemon):
    port, state = daemon["port"], daemon["root"] / "state"
    assert request(port, "GET", "/api/regions")[1] == {"regions": [], "from": "default regions", "editable": True}
    page.click("#edit-regions")
    page.locator("#editor").wait_for()
    _draw(page, 0.1, 0.15, 0.9, 0.85)
    page.locator(".region-row input").fill("door")
    page.click("#save-regions")
    page.wait_for_function("() => document.getElementById('regions-state').textContent === 'saved and applied: door'")
    status = request(port, "GET", "/api/status")[1]
    assert [r["name"] for r in status["regions"]] == ["door"]
    assert status["regions"][0]["box"] == pytest.approx([0.1, 0.15, 0.9, 0.85], abs=0.01)
    assert request(port, "GET", "/api/regions")[1]["from"] == "remote regions"
    page.wait_for_function("() => [...document.querySelectorAll('.region span')].some(s => s.textContent"
                           ".startsWith('door: '))")
    # kept as a remote setting: what the next start reads (ConfigSource.load, as build() does)
    kept = json.loads((state / "settings.json").read_text())["regions"]
    assert [r["name"] for r in kept] == ["door"]
    from edge_lrcn.config import ConfigSource

    assert [r.name for r in ConfigSource({"state_dir": str(state)}).load().camera.regions] == ["door"]
    # the daemon's next frames are classified in the region: its events and clips carry it
    assert wait_until(lambda: any(e.get("region") == "door" and e["status"] == "done" for e in
                                  request(port, "GET", "/api/events")[1]["events"]), 90, 0.5), "no event in door"
    ev = next(e for e in request(port, "GET", "/api/events")[1]["events"] if e.get("region") == "door"
              and e["status"] == "done")
    assert "_door_" in ev["id"] and request(port, "GET", ev["snapshot_url"])[0] == 200
    # labelled from the page, the dataset gets the region's crop (what the device classifies there)
    code, added, _ = request(port, "POST", f"/api/events/{ev['id']}/label", b'{"label": "in_door"}')
    import cv2

    cap = cv2.VideoCapture(str(daemon["root"] / "data" / added["path"]))
    ok, frame = cap.read()
    cap.release()
    width, height = status["size"]
    assert code == 200 and ok and abs(frame.shape[1] - 0.8 * width) <= 2 and abs(frame.shape[0] - 0.7 * height) <= 2


@pytest.mark.parametrize("regions, says", [
    ([{"name": "door", "box": [0.5, 0.5, 0.5, 0.9]}], "is empty or upside down"),
    ([{"name": "door", "box": [0.5, 0.5, 1.2, 0.9]}], "leaves the frame"),
    ([{"name": "a/b", "box": [0.1, 0.1, 0.5, 0.5]}], "not allowed in an MQTT topic"),
    ([{"name": "door", "box": [0.1, 0.1, 0.5, 0.5]}, {"name": "door", "box": [0.2, 0.2, 0.6, 0.6]}],
     "used more than once"),
    ("door", "must be a list"),
])
def test_a_bad_region_is_refused_with_the_checkers_message_and_nothing_changes(daemon, regions, says):
    port, kept = daemon["port"], daemon["root"] / "state" / "settings.json"
    before = kept.read_bytes() if kept.exists() else None
    names = [r["name"] for r in request(port, "GET", "/api/status")[1]["regions"]]
    code, answer, _ = request(port, "POST", "/api/regions", json.dumps({"regions": regions}).encode(),
                              {"Content-Type": "application/json", "Origin": f"http://127.0.0.1:{port}"})
    assert code == 400 and says in answer["error"], answer
    assert (kept.read_bytes() if kept.exists() else None) == before and daemon["proc"].poll() is None
    assert [r["name"] for r in request(port, "GET", "/api/status")[1]["regions"]] == names


def test_the_page_shows_a_refused_region_and_a_cross_origin_save_is_refused(page, browser, daemon):
    port = daemon["port"]
    page.click("#edit-regions")
    page.locator("#editor").wait_for()
    _draw(page, 0.55, 0.2, 0.8, 0.5)  # a second region, named like the first
    page.locator(".region-row input").nth(1).fill("door")
    page.click("#save-regions")
    page.wait_for_function("() => document.getElementById('regions-error').textContent.includes("
                           "\"region name 'door' is used more than once\")")
    assert [r["name"] for r in request(port, "GET", "/api/status")[1]["regions"]] == ["door"]
    page.click("#cancel-regions")
    other = browser.new_page()
    other.goto(f"http://localhost:{port}/static/style.css")  # another origin
    with other.expect_response(lambda r: r.url.endswith("/api/regions")) as resp:
        other.evaluate(f"""() => fetch('http://127.0.0.1:{port}/api/regions', {{method: 'POST', mode: 'no-cors',
            headers: {{'Content-Type': 'text/plain'}}, body: '{{"regions": []}}'}}).catch(() => 0)""")
    assert resp.value.status == 403
    other.close()
    assert [r["name"] for r in request(port, "GET", "/api/status")[1]["regions"]] == ["door"]


def test_a_region_is_moved_and_resized_with_the_mouse_and_deleted(page, daemon):
    port = daemon["port"]
    page.click("#edit-regions")
    page.locator(".eregion").wait_for()
    _draw(page, 0.5, 0.5, 0.5, 0.5)  # a click on the region selects it
    _draw(page, 0.5, 0.5, 0.45, 0.55)  # dragging the selected region moves it: [0.05, 0.2, 0.85, 0.9]
    handle = page.locator(".eregion .handle.se").bounding_box()
    view = page.locator("#editor").bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(view["x"] + 0.6 * view["width"], view["y"] + 0.7 * view["height"], steps=4)
    page.mouse.up()
    page.click("#save-regions")
    page.wait_for_function("() => document.getElementById('regions-state').textContent.startsWith('saved')")
    box = request(port, "GET", "/api/status")[1]["regions"][0]["box"]
    assert box == pytest.approx([0.05, 0.2, 0.6, 0.7], abs=0.015)
    page.click("#edit-regions")
    page.locator(".eregion").wait_for()
    _draw(page, 0.3, 0.5, 0.3, 0.5)  # select it, and the Delete key removes it: the whole frame again
    page.keyboard.press("Delete")
    assert page.locator(".eregion").count() == 0
    page.click("#save-regions")
    page.wait_for_function("() => document.getElementById('regions-state').textContent === 'saved: the whole frame'")
    assert [r["name"] for r in request(port, "GET", "/api/status")[1]["regions"]] == ["frame"]


def test_with_mqtt_remote_settings_the_editor_and_set_share_one_checker_and_settings_file(tmp_path):
    """The page's saves go through the daemon's one RemoteSettings (with MQTT's ``<prefix>/set`` on): a region
    saved on the page is in the retained settings, a later ``/set`` keeps it in settings.json, and the page's
    answers never reach MQTT."""
    from tests.broker import Broker
    from tests.mjpeg_server import MjpegCamera
    from tests.test_fleet import PREFIX, Device, responses, retained, set_request
    from tests.test_mqtt import Subscriber

    broker = Broker(tmp_path / "broker").start()
    cam = MjpegCamera("right", fps=15.0, seed=4)
    sub = Subscriber(broker.port)
    port, state = free_port(), tmp_path / "state"
    dev = Device(broker, cam, state, "--http", f"127.0.0.1:{port}", "--remote-settings",
                 env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    try:
        assert wait_until(lambda: _up(port) and sub.on(f"{PREFIX}/settings"), 60, 0.1), dev.log()
        door = {"name": "door", "box": [0.2, 0.1, 0.7, 0.9]}
        code, answer, _ = request(port, "POST", "/api/regions", json.dumps({"regions": [door]}).encode())
        assert code == 200 and answer["regions"] == [door], answer
        assert wait_until(lambda: retained(sub, "settings")["regions"] == [door], 20, 0.1)
        set_request(broker.port, {"enter_threshold": 0.55, "transaction": "t1"})
        assert wait_until(lambda: any(r["transaction"] == "t1" for r in responses(sub, "set/response")), 20, 0.1)
        assert json.loads((state / "settings.json").read_text()) == {"enter_threshold": 0.55, "regions": [door]}
        assert [r["transaction"] for r in responses(sub, "set/response")] == ["t1"]  # the page's went to the page
        assert [r["name"] for r in request(port, "GET", "/api/status")[1]["regions"]] == ["door"]
    finally:
        assert dev.stop() == 0, dev.log()
        sub.close()
        cam.close()
        broker.stop()
