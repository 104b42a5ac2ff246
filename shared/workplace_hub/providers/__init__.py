"""Messenger senders, one module per provider, and the explicit registry of them."""

from __future__ import annotations

from workplace_hub.providers.base import Sender
from workplace_hub.providers.google_chat import GoogleChatSender
from workplace_hub.providers.kakao import KakaoSender
from workplace_hub.providers.line import LineSender
from workplace_hub.providers.naver_works import NaverWorksSender
from workplace_hub.providers.slack import SlackSender

SENDERS: dict[str, type[Sender]] = {
    SlackSender.channel: SlackSender,
    GoogleChatSender.channel: GoogleChatSender,
    LineSender.channel: LineSender,
    NaverWorksSender.channel: NaverWorksSender,
    KakaoSender.channel: KakaoSender,
}
