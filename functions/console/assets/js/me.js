// Employee pages (個人設定): link LINE (LINE Login, then the friend QR code), Slack member ID, Google Chat
// webhook, calendar authorization; a test message per channel; my deliveries.

import { query } from "./api.js";
import { field, h, qrCode, replace } from "./dom.js";
import { INTEGRATION_NAMES, t } from "./i18n.js";
import { message, paginated, showFieldError, stateText } from "./admin.js";

const TESTABLE = ["slack", "google_chat", "line", "naver_works"];

function stateBadge(state) {
  const value = (state && state.state) || "not_linked";
  return h("span", { class: `badge ${value}`, "data-state": value }, stateText(value));
}

/** Start an OAuth link (LINE, Google, NAVER WORKS): the API gives the provider's URL, the browser goes there. */
function authorizeButton(api, provider, label, result) {
  return h(
    "button",
    {
      type: "button",
      id: `authorize-${provider}`,
      onclick: async () => {
        try {
          const answer = await api.get(`/me/links/${provider}/authorize`);
          window.location.assign(answer.authorize_url);
        } catch (error) {
          result.replaceChildren(message(error.body?.message || error.message, "error"));
        }
      },
    },
    label,
  );
}

function linkForm(api, name, label, current, { help, type = "text", onSaved }) {
  const input = h("input", { name, type, value: current || "", autocomplete: "off", spellcheck: "false" });
  const form = h(
    "form",
    { class: "link-form", id: `form-${name}` },
    field(label, input, { help }),
    h("button", { type: "submit" }, t("save")),
    h("div", { class: "form-message", "aria-live": "polite" }),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const saved = await api.put("/me/links", { [name]: input.value });
      onSaved(saved);
      form.querySelector(".form-message").replaceChildren(message(t("saved")));
    } catch (error) {
      showFieldError(form, error, "");
    }
  });
  return form;
}

function testButton(api, channel) {
  const result = h("div", { class: "form-message", id: `test-result-${channel}`, "aria-live": "polite" });
  const button = h(
    "button",
    {
      type: "button",
      class: "test",
      id: `test-${channel}`,
      onclick: async () => {
        try {
          const answer = await api.post(`/me/links/${channel}/test`);
          const ok = answer.result === "sent";
          result.dataset.result = answer.result;
          result.replaceChildren(
            message(ok ? t("testSent") : `${t("testFailed")}: ${[answer.code, answer.next_step].filter(Boolean).join(" · ")}`, ok ? "ok" : "error"),
          );
        } catch (error) {
          result.dataset.result = "refused";
          result.replaceChildren(message(error.body?.message || error.message, "error"));
        }
      },
    },
    `${t("sendTest")} (${INTEGRATION_NAMES[channel]})`,
  );
  return h("div", { class: "test-row" }, button, result);
}

function section(id, title, ...children) {
  return h("section", { class: "card", id, "aria-labelledby": `${id}-title` }, h("h2", { id: `${id}-title` }, title), ...children);
}

async function renderMe(container, { api }) {
  const [links, options] = await Promise.all([api.get("/me/links"), api.get("/me/calendar-options")]);
  const channels = links.channels || {};
  const draw = (current) => {
    const line = current.links.line || {};
    const lineMessage = h("div", { class: "form-message", "aria-live": "polite" });
    const friendUrl = current.line_friend_link_url;
    const lineSection = section(
      "me-line",
      "LINE",
      h("p", {}, stateBadge(line), line.state === "linked" ? h("span", { id: "line-friend", "data-friend": line.friend ? "yes" : "no" }, ` · ${line.friend ? t("lineFriendYes") : t("lineFriendNo")}`) : null),
      channels.line ? authorizeButton(api, "line", t("lineStart"), lineMessage) : h("p", {}, t("notEnabledForCompany")),
      friendUrl
        ? h(
            "div",
            { class: "friend" },
            qrCode(friendUrl, t("lineFriendQr")),
            h("a", { href: friendUrl, id: "friend-link", class: "button", rel: "noopener noreferrer", target: "_blank" }, t("lineFriend")),
          )
        : null,
      lineMessage,
    );
    const slackSection = section(
      "me-slack",
      "Slack",
      h("p", {}, stateBadge(current.links.slack)),
      channels.slack === false
        ? h("p", {}, t("notEnabledForCompany"))
        : linkForm(api, "slack_member_id", t("slackMemberId"), current.slack_member_id, { help: t("slackHelp"), onSaved: draw }),
    );
    const chatSection = section(
      "me-google-chat",
      "Google Chat",
      h("p", {}, stateBadge(current.links.google_chat)),
      channels.google_chat === false
        ? h("p", {}, t("notEnabledForCompany"))
        : linkForm(api, "google_chat_webhook_url", t("chatWebhook"), "", {
            type: "url",
            help: current.google_chat_webhook_url || null,
            onSaved: draw,
          }),
    );
    const calendarMessage = h("div", { class: "form-message", "aria-live": "polite" });
    const calendarParts = [];
    if (options.google && options.google.enabled) {
      calendarParts.push(
        h("h3", {}, "Google Calendar"),
        h("p", { id: "google-calendar-state", "data-usable": String(options.google.usable) }, options.google.usable ? t("usable") : `${t("notUsable")} (${options.google.reason})`),
        options.google.authorize_path ? authorizeButton(api, "google", t("authorizeGoogle"), calendarMessage) : null,
      );
    }
    if (options.naver_works && options.naver_works.enabled) {
      const personal = options.naver_works.personal_calendars || {};
      calendarParts.push(
        h("h3", {}, "NAVER WORKS Calendar"),
        h("p", {}, personal.usable ? t("usable") : `${t("notUsable")} (${personal.reason})`),
        personal.reason && personal.reason.endsWith("not_authorized") || (personal.reason || "").endsWith("needs_relink")
          ? authorizeButton(api, "naver_works", t("authorizeWorks"), calendarMessage)
          : null,
        personal.calendars && personal.calendars.length
          ? h("div", {}, h("p", {}, t("personalCalendars")), h("ul", { id: "works-calendars" }, personal.calendars.map((c) => h("li", {}, c.name || c.calendar_id))))
          : null,
      );
    }
    const sections = [lineSection, slackSection, chatSection];
    if (options.calendar_registration) sections.push(section("me-calendars", t("calendars"), ...calendarParts, calendarMessage));
    sections.push(
      section(
        "me-test",
        t("sendTest"),
        TESTABLE.filter((channel) => channels[channel] !== false).map((channel) => testButton(api, channel)),
      ),
    );
    replace(container, ...sections);
    container.dataset.ready = "true";
  };
  draw(links);
}

async function renderMyDeliveries(container, { api }) {
  const log = paginated("my-deliveries", async (nextToken) => {
    const page = await api.get(`/me/deliveries${query({ limit: 20, next_token: nextToken })}`);
    return { rows: page.deliveries, next_token: page.next_token };
  });
  replace(container, log.element);
  await log.load(true);
}

export const MEMBER_PAGES = [
  { route: "me", title: "navMe", render: renderMe },
  { route: "my-deliveries", title: "navMyDeliveries", render: renderMyDeliveries },
];
