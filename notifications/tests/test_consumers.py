"""The notify socket through realtime.asgi.application (WebsocketCommunicator)."""

from __future__ import annotations

import asyncio

import pytest
from rest_framework.test import APIClient

from notifications import services
from notifications.consumers import NotifyConsumer, is_own_path_id
from notifications.models import Notification
from notifications.schemas import NotificationOut, UnreadOut, WelcomeOut
from notifications.tests.support import (
    TIMEOUT,
    adb,
    closed_with,
    next_frame,
    notify_path,
    token_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def test_welcome_carries_the_unread_backlog_sent_while_offline(
    sockets, make_user
):
    alice = await adb(make_user)("alice")
    first = await adb(services.notification_create)(user_id=alice.pk, title="first")
    second = await adb(services.notification_create)(
        user_id=alice.pk, title="second", level="error"
    )
    read = await adb(services.notification_create)(
        user_id=alice.pk, title="read already"
    )
    await adb(services.notification_mark_read)(
        notification_id=read.pk, user_id=alice.pk
    )

    comm, welcome = await sockets.notify(alice)

    assert welcome["user"] == {"id": alice.pk, "username": "alice"}
    assert welcome["unread"] == 2
    assert [n["id"] for n in welcome["notifications"]] == [second.pk, first.pk]
    assert welcome["notifications"][0] == {
        "type": "notification",
        "id": second.pk,
        "title": "second",
        "body": "",
        "level": "error",
        "link": "",
        "ts": welcome["notifications"][0]["ts"],
        "read": False,
    }
    assert welcome["connection_id"] and welcome["heartbeat_interval"] > 0
    WelcomeOut.model_validate(welcome)  # the schema of PROTOCOL.md's notify welcome


OTHER, MISSING = "other", "missing"


@pytest.mark.parametrize(
    "path_id",
    [
        OTHER,
        MISSING,
        "abc",
        "-1",
        "0",
        "99999999999999999999",
        "01",
        "1e3",
        "%20",
        "me",
    ],
)
async def test_any_id_but_ones_own_is_closed_with_4403_before_any_frame(
    sockets, make_user, path_id
):
    alice = await adb(make_user)("alice")
    bob = await adb(make_user)("bob")
    path_id = {OTHER: bob.pk, MISSING: bob.pk + 1000}.get(path_id, path_id)
    if path_id == "01":
        path_id = f"0{alice.pk}"

    comm, connected, _ = await sockets.connect(notify_path(path_id, token_for(alice)))

    assert connected  # accepted, so a browser can read the code
    message = await comm.receive_output(TIMEOUT)
    assert message == {"type": "websocket.close", "code": 4403}  # nothing before it


@pytest.mark.parametrize(
    "path",
    [
        "/ws/notify/user//",
        "/ws/notify/user/{id}/extra/",
        "/ws/notify/",
        "/ws/notify/user/{id}",
    ],
)
async def test_other_paths_under_notify_are_4403_not_a_routing_error(
    sockets, make_user, path
):
    alice = await adb(make_user)("alice")
    path = path.format(id=alice.pk) + f"?token={token_for(alice)}"
    comm, connected, _ = await sockets.connect(path)
    assert connected
    assert await closed_with(comm) == 4403


@pytest.mark.parametrize("token", [None, "junk", "expired"])
async def test_without_good_credentials_the_handshake_is_refused_before_accept(
    sockets, make_user, token
):
    alice = await adb(make_user)("alice")
    if token == "expired":
        token = token_for(alice, lifetime=-10)
    comm, connected, code = await sockets.connect(notify_path(alice.pk, token))
    assert not connected  # HTTP 403 on a real server
    assert code == 1008


def test_the_path_check_is_a_pure_comparison_so_existing_and_missing_ids_look_alike(
    django_assert_num_queries,
):
    # No lookup of the id in the path at all: the same code, the same work, for a user
    # who exists and one who does not.
    with django_assert_num_queries(0):
        assert is_own_path_id("7", 7)
        assert not is_own_path_id("8", 7)
        assert not is_own_path_id("99999999999999999999", 7)
        assert not is_own_path_id(None, 7)
        assert not is_own_path_id("07", 7)
    from realtime.socket.auth import Credentials

    consumer = NotifyConsumer()
    consumer.credentials = Credentials(None, "token", None, user_id=7)
    for raw in ("8", "123456"):
        consumer.scope = {"url_route": {"kwargs": {"user_id": raw}}}
        with django_assert_num_queries(0), pytest.raises(Exception) as refused:
            asyncio.run(consumer.authorize())
        assert refused.value.close_code == 4403


async def test_a_notification_reaches_only_the_users_notify_sockets(sockets, make_user):
    alice = await adb(make_user)("alice")
    bob = await adb(make_user)("bob")
    alice_notify, _ = await sockets.notify(alice)
    bob_notify, _ = await sockets.notify(bob)
    # An authenticated echo socket joins alice's user topic like a chat socket does.
    alice_echo, connected, _ = await sockets.connect(
        f"/ws/echo/?token={token_for(alice)}"
    )
    assert connected

    sent = await adb(services.notification_create)(user_id=alice.pk, title="for alice")

    frame = await next_frame(alice_notify, "notification")
    NotificationOut.model_validate(frame)
    assert (
        frame["id"] == sent.pk
        and frame["title"] == "for alice"
        and frame["read"] is False
    )
    assert await bob_notify.receive_nothing(0.3)
    assert await alice_echo.receive_nothing(0.1)


async def test_read_is_answered_on_every_open_tab_of_the_user(sockets, make_user):
    alice = await adb(make_user)("alice")
    bob = await adb(make_user)("bob")
    one = await adb(services.notification_create)(user_id=alice.pk, title="one")
    await adb(services.notification_create)(user_id=alice.pk, title="two")
    tab1, w1 = await sockets.notify(alice)
    tab2, w2 = await sockets.notify(alice)
    bob_tab, _ = await sockets.notify(bob)
    assert w1["unread"] == w2["unread"] == 2

    await tab1.send_json_to({"type": "read", "id": one.pk})
    answer = await next_frame(tab1, "unread")
    assert UnreadOut.model_validate(answer).count == 1
    assert answer == {"type": "unread", "count": 1, "unread": 1}
    assert await next_frame(tab2, "unread") == {
        "type": "unread",
        "count": 1,
        "unread": 1,
    }

    await tab2.send_json_to({"type": "read", "all": True})
    assert await next_frame(tab1, "unread") == {
        "type": "unread",
        "count": 0,
        "unread": 0,
    }
    assert await next_frame(tab2, "unread") == {
        "type": "unread",
        "count": 0,
        "unread": 0,
    }
    assert await bob_tab.receive_nothing(0.2)


async def test_reading_someone_elses_notification_is_an_error_and_changes_nothing(
    sockets, make_user
):
    alice = await adb(make_user)("alice")
    bob = await adb(make_user)("bob")
    hers = await adb(services.notification_create)(user_id=alice.pk, title="private")
    alice_tab, _ = await sockets.notify(alice)
    bob_tab, _ = await sockets.notify(bob)

    await bob_tab.send_json_to({"type": "read", "id": hers.pk})
    error = await next_frame(bob_tab, "error")
    await bob_tab.send_json_to({"type": "read", "id": hers.pk + 1000})
    assert (
        await next_frame(bob_tab, "error") == error
    )  # the same answer: nothing revealed
    assert error["code"] == "invalid"
    assert await alice_tab.receive_nothing(0.2)
    await hers.arefresh_from_db()
    assert hers.read_at is None


@pytest.mark.parametrize(
    "frame",
    [{"type": "read"}, {"type": "read", "id": 1, "all": True}, {"type": "mark"}],
)
async def test_a_bad_frame_is_an_error_frame_and_the_socket_stays_open(
    sockets, make_user, frame
):
    alice = await adb(make_user)("alice")
    tab, _ = await sockets.notify(alice)
    await tab.send_json_to(frame)
    error = await next_frame(tab, "error")
    assert error["code"] in {"invalid", "unknown_type"}
    await tab.send_json_to({"type": "heartbeat"})
    assert (await next_frame(tab, "heartbeat"))["ts"]


async def test_marking_read_over_rest_updates_every_notify_socket(sockets, make_user):
    alice = await adb(make_user)("alice")
    await adb(services.notifications_create_bulk)(user_ids=[alice.pk] * 2, title="x")
    await adb(services.notification_create)(user_id=alice.pk, title="y")
    tab1, _ = await sockets.notify(alice)
    tab2, _ = await sockets.notify(alice)

    def read_all() -> int:
        client = APIClient()
        client.force_authenticate(alice)
        return client.post("/api/notifications/read-all/").status_code

    assert await adb(read_all)() == 200
    assert await next_frame(tab1, "unread") == {
        "type": "unread",
        "count": 0,
        "unread": 0,
    }
    assert await next_frame(tab2, "unread") == {
        "type": "unread",
        "count": 0,
        "unread": 0,
    }


async def test_a_fresh_token_in_band_keeps_the_socket_past_the_first_tokens_expiry(
    sockets, make_user
):
    alice = await adb(make_user)("alice")
    refreshed, _ = await sockets.notify(alice, token=token_for(alice, lifetime=2))
    unrefreshed, _ = await sockets.notify(alice, token=token_for(alice, lifetime=2))

    await refreshed.send_json_to(
        {"type": "auth", "token": token_for(alice, lifetime=60)}
    )
    assert (await next_frame(refreshed, "auth"))["exp"]

    # The twin socket, opened with a token of the same expiry, is closed for it...
    assert await closed_with(unrefreshed) == 4401
    # ...while the refreshed one lives on and still answers.
    await refreshed.send_json_to({"type": "heartbeat"})
    assert (await next_frame(refreshed, "heartbeat"))["ts"]


async def test_a_token_of_another_user_does_not_refresh_the_socket(sockets, make_user):
    alice = await adb(make_user)("alice")
    bob = await adb(make_user)("bob")
    tab, _ = await sockets.notify(alice, token=token_for(alice, lifetime=2))
    await tab.send_json_to({"type": "auth", "token": token_for(bob, lifetime=60)})
    assert (await next_frame(tab, "error"))["code"] == "invalid"
    assert await closed_with(tab) == 4401


async def test_a_bulk_send_reaches_each_live_recipient_with_its_own_row(
    sockets, make_user
):
    alice = await adb(make_user)("alice")
    bob = await adb(make_user)("bob")
    carol = await adb(make_user)("carol")
    alice_tab, _ = await sockets.notify(alice)
    bob_tab, _ = await sockets.notify(bob)

    sent = await adb(services.notifications_create_bulk)(
        user_ids=[alice.pk, bob.pk, carol.pk], title="All hands", level="info"
    )

    assert sent == 3
    got_alice = await next_frame(alice_tab, "notification")
    got_bob = await next_frame(bob_tab, "notification")
    ids = {
        n.user_id: n.pk
        async for n in Notification.objects.filter(title="All hands").only(
            "id", "user_id"
        )
    }
    assert got_alice["id"] == ids[alice.pk] and got_bob["id"] == ids[bob.pk]
    assert got_alice | {"id": 0} == got_bob | {"id": 0}
    carol_tab, welcome = await sockets.notify(carol)  # offline: her welcome has it
    assert [n["id"] for n in welcome["notifications"]] == [ids[carol.pk]]


async def test_the_live_notification_frame_carries_its_link_as_the_welcome_and_rest_do(
    sockets, make_user
):
    """Protocol addition: `link` is in every notification frame ("" for none)."""
    alice = await adb(make_user)("alice")
    bob = await adb(make_user)("bob")
    alice_tab, _ = await sockets.notify(alice)
    bob_tab, _ = await sockets.notify(bob)

    await adb(services.notification_create)(
        user_id=alice.pk, title="one", link="/rooms/lobby/"
    )
    await adb(services.notifications_create_bulk)(
        user_ids=[alice.pk, bob.pk], title="all", link="https://example.com/x"
    )

    assert (await next_frame(alice_tab, "notification"))["link"] == "/rooms/lobby/"
    bulk = await next_frame(alice_tab, "notification")
    assert bulk["link"] == "https://example.com/x"
    assert (await next_frame(bob_tab, "notification"))["link"] == bulk["link"]
    _, welcome = await sockets.notify(alice)
    assert [n["link"] for n in welcome["notifications"]] == [
        "https://example.com/x",
        "/rooms/lobby/",
    ]


async def test_the_unread_frame_names_the_count_unread_as_the_welcome_does(
    sockets, make_user
):
    """Protocol addition: `unread` beside `count`, the same number."""
    alice = await adb(make_user)("alice")
    await adb(services.notification_create)(user_id=alice.pk, title="one")
    tab, welcome = await sockets.notify(alice)
    assert welcome["unread"] == 1
    await tab.send_json_to({"type": "read", "all": True})
    frame = await next_frame(tab, "unread")
    assert frame["unread"] == frame["count"] == 0


# --- following rooms' activity: the orders against a group join under way ------------


@pytest.mark.parametrize(
    ("orders", "held"),
    [
        ((), True),  # the follow finishes: held
        (("unfollow",), False),  # left while joining: let go once joined
        (("unfollow", "follow"), True),  # left and taken again: the later one holds it
    ],
)
async def test_a_follow_under_way_ends_as_the_last_order_says(
    monkeypatch, orders, held
):
    from chat.topics import FOLLOW, UNFOLLOW, chat_activity_topic
    from realtime.fanout.events import Event
    from realtime.fanout.hub import hub

    gate = asyncio.Event()
    subscribe = hub.subscribe

    async def slow_subscribe(topic, sub):  # a cluster's group join, held open
        await gate.wait()
        await subscribe(topic, sub)

    monkeypatch.setattr(hub, "subscribe", slow_subscribe)
    sock = NotifyConsumer()
    sock._early = None  # past its welcome
    topic = chat_activity_topic(7)
    kinds = {"follow": FOLLOW, "unfollow": UNFOLLOW}
    sock.deliver(Event(text=topic, kind=FOLLOW))
    await asyncio.sleep(0)  # the follow task starts and waits on the join
    for order in orders:
        sock.deliver(Event(text=topic, kind=kinds[order]))
        await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*sock._follows)
    assert (topic in sock.followed) is held
    assert (sock in hub.local_subscribers(topic)) is held
    await sock.closed_hook()
    assert hub.local_subscribers(topic) == ()


async def test_a_socket_takes_no_frame_of_a_run_past_the_order_that_made_it_leave(
    monkeypatch,
):
    from chat.services.activity import follow_events
    from chat.topics import UNFOLLOW, chat_activity_topic
    from realtime.fanout.events import Event
    from realtime.fanout.hub import hub

    sock = NotifyConsumer()
    sock._early = None  # past its welcome
    sent: list[str] = []
    monkeypatch.setattr(sock, "send_text", lambda text, kind="": sent.append(text))
    topic = chat_activity_topic(8)
    ((_, follow),) = follow_events(room_id=8, user_ids=[1])
    sock.deliver(follow)
    await asyncio.gather(*sock._follows)
    assert topic in sock.followed
    # The room's activity, then its close (every socket leaves), then more activity.
    hub.deliver_run(
        topic,
        [
            Event(text="before", kind="notification"),
            Event(text=topic, kind=UNFOLLOW, order=True),
            Event(text="after", kind="notification"),
        ],
    )
    assert sent == ["before"]
    assert topic not in sock.followed and hub.local_subscribers(topic) == ()
