"""The pages an employee's browser shows at the end of a linking flow: Japanese first, Korean and
English by Accept-Language. Every failure says what to do next; nothing secret is ever shown."""

from __future__ import annotations

import base64
import hashlib
import html
from dataclasses import dataclass

import segno

LOCALES = ("ja", "ko", "en")

_TEXT: dict[str, dict[str, str]] = {
    "linked_title": {"ja": "連携が完了しました", "ko": "연동이 완료되었습니다", "en": "Your account is linked"},
    "linked_body": {
        "ja": "{provider} と WORKPLACE の連携が完了しました。このページは閉じてかまいません。",
        "ko": "{provider}와 WORKPLACE 연동이 완료되었습니다. 이 페이지를 닫으셔도 됩니다.",
        "en": "{provider} is now linked to WORKPLACE. You can close this page.",
    },
    "line_friend_needed": {
        "ja": "通知を受け取るには、会社の LINE 公式アカウントを友だち追加してください。",
        "ko": "알림을 받으려면 회사 LINE 공식 계정을 친구로 추가해 주세요.",
        "en": "To receive notifications, add the company's LINE Official Account as a friend.",
    },
    "line_friend_done": {
        "ja": "会社の LINE 公式アカウントは友だち追加済みです。",
        "ko": "회사 LINE 공식 계정이 이미 친구로 추가되어 있습니다.",
        "en": "The company's LINE Official Account is already your friend.",
    },
    "line_friend_link": {"ja": "友だち追加", "ko": "친구 추가", "en": "Add as friend"},
    "failed_title": {
        "ja": "連携できませんでした",
        "ko": "연동하지 못했습니다",
        "en": "The account could not be linked",
    },
    "next_step": {"ja": "次にすること", "ko": "다음 단계", "en": "What to do next"},
    "restart": {
        "ja": "WORKPLACE の個人設定から、もう一度連携をやり直してください。",
        "ko": "WORKPLACE 개인 설정에서 다시 연동해 주세요.",
        "en": "Start linking again from your WORKPLACE personal settings.",
    },
    "ask_admin": {
        "ja": "解決しない場合は、会社の WORKPLACE 管理者にお問い合わせください。",
        "ko": "해결되지 않으면 회사의 WORKPLACE 관리자에게 문의해 주세요.",
        "en": "If this keeps happening, contact your company's WORKPLACE administrator.",
    },
}

# Why a flow failed, per reason code, with the next step an employee can take.
_REASONS: dict[str, dict[str, str]] = {
    "state_invalid": {
        "ja": "このリンクは無効です(改ざんされたか、別の手続きのものです)。",
        "ko": "이 링크는 유효하지 않습니다(변조되었거나 다른 절차의 링크입니다).",
        "en": "This link is not valid (it was altered or belongs to another attempt).",
    },
    "state_used": {
        "ja": "このリンクはすでに使われています。",
        "ko": "이 링크는 이미 사용되었습니다.",
        "en": "This link has already been used.",
    },
    "state_expired": {
        "ja": "手続きの有効期限(10分)が切れました。",
        "ko": "절차의 유효 시간(10분)이 지났습니다.",
        "en": "The linking attempt expired (it is valid for 10 minutes).",
    },
    "access_denied": {
        "ja": "連携が許可されませんでした。",
        "ko": "연동이 허용되지 않았습니다.",
        "en": "Access was not granted.",
    },
    "code_invalid": {
        "ja": "認可コードが無効か、期限切れです。",
        "ko": "인가 코드가 유효하지 않거나 만료되었습니다.",
        "en": "The authorization code was invalid or had expired.",
    },
    "identity_invalid": {
        "ja": "ログイン情報を確認できませんでした。",
        "ko": "로그인 정보를 확인할 수 없었습니다.",
        "en": "Your sign-in could not be verified.",
    },
    "email_mismatch": {
        "ja": "ログインしたアカウントが、登録されている Google Workspace ID と一致しません。登録されたアカウントでログインしてください。",
        "ko": "로그인한 계정이 등록된 Google Workspace ID와 일치하지 않습니다. 등록된 계정으로 로그인해 주세요.",
        "en": "The account you signed in with is not your registered Google Workspace ID. Sign in with that account.",
    },
    "hosted_domain_mismatch": {
        "ja": "会社のドメイン以外のアカウントでは連携できません。",
        "ko": "회사 도메인 이외의 계정으로는 연동할 수 없습니다.",
        "en": "Only accounts in the company's domain can be linked.",
    },
    "integration_unavailable": {
        "ja": "この連携は会社で有効になっていないか、設定が完了していません。",
        "ko": "이 연동은 회사에서 사용 설정되지 않았거나 설정이 완료되지 않았습니다.",
        "en": "This integration is not turned on or not fully set up for your company.",
    },
    "provider_unavailable": {
        "ja": "連携先のサービスが一時的に応答しませんでした。しばらくしてからやり直してください。",
        "ko": "연동 서비스가 일시적으로 응답하지 않았습니다. 잠시 후 다시 시도해 주세요.",
        "en": "The service did not answer just now. Please try again in a few minutes.",
    },
}

PROVIDER_NAMES = {"line": "LINE", "google": "Google Workspace", "naver_works": "NAVER WORKS"}


def choose_locale(accept_language: str | None) -> str:
    """The first of ja / ko / en the browser asks for (by q-value), else Japanese."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        language = tag.strip().lower().split("-")[0]
        if language in LOCALES and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else "ja"


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;"
    "line-height:1.6;color:#222}h1{font-size:1.4rem}.qr svg{width:12rem;height:12rem}"
    ".button{display:inline-block;padding:.6rem 1.2rem;background:#06c755;color:#fff;border-radius:.4rem;"
    "text-decoration:none}"
)
# The pages load nothing and run no script: their one inline <style> is allowed by its hash (no 'unsafe-inline'),
# the QR code is inline SVG, and no other site may frame them (clickjacking a consent) or sniff their type.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()}'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True)
class Page:
    status: int
    body: str


def _document(locale: str, title: str, content: str) -> str:
    return (
        f'<!doctype html><html lang="{locale}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head>"
        f"<body><main><h1>{html.escape(title)}</h1>{content}</main></body></html>"
    )


def linked_page(locale: str, provider: str, *, friend_link_url: str | None = None, is_friend: bool = False) -> Page:
    """Success; for LINE also the company channel's QR code and link (unless already a friend)."""
    name = PROVIDER_NAMES.get(provider, provider)
    parts = [
        f"<p id='result' data-result='linked'>{html.escape(_TEXT['linked_body'][locale].format(provider=name))}</p>"
    ]
    if provider == "line" and friend_link_url:
        if is_friend:
            parts.append(f"<p id='friend' data-friend='yes'>{html.escape(_TEXT['line_friend_done'][locale])}</p>")
        else:
            qr = segno.make(friend_link_url, error="m").svg_inline(scale=4, title=_TEXT["line_friend_link"][locale])
            parts.append(
                f"<p id='friend' data-friend='no'>{html.escape(_TEXT['line_friend_needed'][locale])}</p>"
                f"<div class='qr'>{qr}</div>"
                f"<p><a class='button' id='friend-link' href='{html.escape(friend_link_url, quote=True)}'>"
                f"{html.escape(_TEXT['line_friend_link'][locale])}</a></p>"
            )
    return Page(200, _document(locale, _TEXT["linked_title"][locale], "".join(parts)))


def failed_page(locale: str, reason: str, status: int = 400) -> Page:
    """A failure: what happened, and what to do next."""
    explanation = _REASONS.get(reason, _REASONS["identity_invalid"])[locale]
    content = (
        f"<p id='result' data-result='failed' data-reason='{html.escape(reason, quote=True)}'>"
        f"{html.escape(explanation)}</p>"
        f"<h2>{html.escape(_TEXT['next_step'][locale])}</h2>"
        f"<p>{html.escape(_TEXT['restart'][locale])}</p><p>{html.escape(_TEXT['ask_admin'][locale])}</p>"
    )
    return Page(status, _document(locale, _TEXT["failed_title"][locale], content))
