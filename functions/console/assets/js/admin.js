// Admin pages: サービス連携設定 (integrations), 通知管理 (routing), the employees' link health with the 連携ID,
// and the delivery log with failures and their replay. Every call is the settings API's; the API refuses a
// member whatever this page shows.

import { ApiError, query } from "./api.js";
import { field, h, replace, uid } from "./dom.js";
import { INTEGRATION_NAMES, itemName, lang, t } from "./i18n.js";

let fieldsDocument = null;

async function integrationFields() {
  if (!fieldsDocument) {
    const response = await fetch("fields.json", { credentials: "omit", referrerPolicy: "no-referrer" });
    fieldsDocument = await response.json();
  }
  return fieldsDocument.integrations;
}

/** A settings field's label: its name in the chosen language, with the API's name (what provider docs use). */
function fieldLabel(name) {
  const labels = (fieldsDocument && fieldsDocument.labels[name]) || {};
  const text = labels[lang] || labels.en;
  return text && text !== name ? `${text} (${name})` : name;
}

function stateText(state) {
  return { linked: t("linked"), not_linked: t("notLinked"), needs_relink: t("needsRelink"), blocked: t("blocked") }[
    state
  ] || state;
}

function message(text, kind = "ok") {
  return h("p", { class: `message ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/** Show the API's refusal next to the field it names (`settings.bot_token` → the input named bot_token). */
function showFieldError(form, error, prefix) {
  for (const slot of form.querySelectorAll(".field-error")) {
    slot.hidden = true;
    slot.textContent = "";
  }
  const named = error instanceof ApiError && error.field ? error.field.replace(prefix, "") : null;
  const input = named ? form.querySelector(`[name="${CSS.escape(named)}"]`) : null;
  const slot = input ? document.getElementById(input.getAttribute("aria-describedby").split(" ").pop()) : null;
  const text = error instanceof ApiError ? error.body.message || error.message : String(error);
  if (slot) {
    slot.textContent = `${error.field} ${text}`.trim();
    slot.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.focus();
    return;
  }
  form.querySelector(".form-message").replaceChildren(message(text, "error"));
}

// ---------------------------------------------------------------- サービス連携設定

function verificationText(state) {
  return { ok: t("stateOk"), error: t("stateError"), unverified: t("stateUnverified") }[state] || state;
}

function statusBlock(view) {
  const status = view.status || {};
  return h(
    "dl",
    { class: "status" },
    h("dt", {}, t("status")),
    h(
      "dd",
      { class: "state", "data-state": status.state || "unverified" },
      `${view.enabled ? t("stateEnabled") : t("stateDisabled")} · ${view.configured ? t("configured") : t("notConfigured")} · ${verificationText(status.state || "unverified")}`,
    ),
    h("dt", {}, t("lastVerified")),
    h("dd", { class: "checked-at" }, status.checked_at || "—"),
    h("dt", {}, t("detail")),
    h("dd", { class: "detail" }, [status.detail, status.code].filter(Boolean).join(" · ") || "—"),
  );
}

function copyButton(input) {
  return h(
    "button",
    {
      type: "button",
      class: "copy",
      "aria-label": `${t("copy")}: ${input.name}`,
      onclick: async (event) => {
        const button = event.currentTarget;
        try {
          await navigator.clipboard.writeText(input.value);
        } catch {
          input.select();
          document.execCommand("copy");
        }
        button.textContent = t("copied");
      },
    },
    t("copy"),
  );
}

function control(spec, view, integration) {
  const current = view.settings[spec.name];
  const attributes = { name: spec.name, autocomplete: "off", spellcheck: "false" };
  if (spec.type === "select") {
    const value = current ?? spec.choices[0];
    return h("select", attributes, spec.choices.map((choice) => h("option", { value: choice, selected: choice === value }, choice)));
  }
  if (spec.secret) {
    // Secrets are never filled back: the mask says one is stored, and an empty input keeps it.
    const placeholder = current ? `${current} — ${t("secretKept")}` : t("secretEmpty");
    if (spec.type === "textarea") return h("textarea", { ...attributes, rows: 4, placeholder });
    return h("input", { ...attributes, type: "password", placeholder, autocomplete: "new-password" });
  }
  return h("input", { ...attributes, type: spec.type || "text", value: current ?? "", "data-integration": integration });
}

function variantOf(form) {
  return {
    api_version: form.elements.api_version ? form.elements.api_version.value : undefined,
    auth_mode: form.elements.auth_mode ? form.elements.auth_mode.value : undefined,
  };
}

/** Show the fields of the chosen variant (API 2.0 / 1.0, consent / delegation); hidden ones are not sent. */
function applyVariant(form) {
  const variant = variantOf(form);
  for (const wrapper of form.querySelectorAll(".field[data-when]")) {
    const when = JSON.parse(wrapper.dataset.when);
    const shown = Object.entries(when).every(([name, value]) => variant[name] === value);
    wrapper.hidden = !shown;
    for (const input of wrapper.querySelectorAll("input, textarea, select")) input.disabled = !shown;
  }
}

function templatePreview(template) {
  if (!template) return null;
  return h(
    "div",
    { class: "template-preview", id: "kakao-template" },
    h("h3", {}, t("templatePreview")),
    h("pre", {}, template.content || ""),
    h("p", {}, `${t("templateVariables")}: ${(template.variables || []).join(", ") || "—"}`),
    h("p", {}, `${t("templateButtons")}: ${(template.buttons || []).map((b) => b.name).join(", ") || "—"}`),
  );
}

function integrationCard(view, specs, api) {
  const id = view.integration;
  const card = h("article", { id: `integration-${id}`, class: "card integration", "aria-labelledby": `${id}-title` });
  const render = (current) => {
    const form = h("form", { novalidate: true, "aria-labelledby": `${id}-title` });
    const enabled = h("input", { type: "checkbox", name: "enabled", checked: current.enabled, id: uid(`${id}-enabled`) });
    form.append(h("div", { class: "field checkbox" }, enabled, h("label", { for: enabled.id }, t("enabled"))));
    const platform = current.settings.credentials_source;
    if (platform) {
      const source = h(
        "select",
        { name: "credentials_source" },
        ["platform", "company"].map((choice) => h("option", { value: choice, selected: choice === platform }, choice)),
      );
      form.append(
        h("p", { class: "platform-state", "data-source": platform }, platform === "platform" ? t("platformCredentials") : t("companyCredentials")),
        field(fieldLabel("credentials_source"), source),
      );
    }
    for (const spec of specs) {
      const input = control(spec, current, id);
      const wrapper = field(fieldLabel(spec.name), input);
      if (spec.when) wrapper.dataset.when = JSON.stringify(spec.when);
      if (spec.file) {
        const file = h("input", { type: "file", accept: "application/json,.json", id: uid(`${id}-${spec.name}-file`) });
        file.addEventListener("change", async () => {
          if (file.files.length) input.value = await file.files[0].text();
        });
        wrapper.append(h("label", { for: file.id, class: "file-label" }, `${t("uploadFile")}: ${fieldLabel(spec.name)}`), file);
      }
      wrapper.dataset.setting = spec.name;
      form.append(wrapper);
    }
    const preview = templatePreview(current.settings.template);
    if (preview) form.append(preview);
    const urls = Object.entries(current.read_only || {});
    if (urls.length) {
      form.append(
        h(
          "fieldset",
          { class: "read-only" },
          h("legend", {}, t("urlsToPaste")),
          urls.map(([name, url]) => {
            const input = h("input", { type: "url", readonly: true, value: url, name, "data-read-only": "true" });
            const wrapper = field(fieldLabel(name), input);
            wrapper.append(copyButton(input));
            return wrapper;
          }),
        ),
      );
    }
    const formMessage = h("div", { class: "form-message", "aria-live": "polite" });
    form.append(
      h(
        "div",
        { class: "actions" },
        h("button", { type: "submit", class: "save" }, t("save")),
        h("button", { type: "button", class: "verify", onclick: () => verify() }, t("verify")),
      ),
      formMessage,
    );
    for (const select of form.querySelectorAll('select[name="api_version"], select[name="auth_mode"]')) {
      select.addEventListener("change", () => applyVariant(form));
    }
    applyVariant(form);
    // Collabo: on the platform's credentials only bot_id may be set; the company's own show every field.
    const source = form.elements.credentials_source;
    if (source) {
      const showOwn = () => {
        const own = source.value === "company";
        for (const wrapper of form.querySelectorAll(".field[data-setting]")) {
          if (wrapper.dataset.setting !== "bot_id") wrapper.hidden = !own;
        }
        if (own) applyVariant(form);
      };
      source.addEventListener("change", showOwn);
      showOwn();
    }

    const verify = async () => {
      try {
        const result = await api.post(`/admin/integrations/${id}/verify`);
        render(result);
        card.querySelector(".form-message").replaceChildren(message(t("verified")));
      } catch (error) {
        showFieldError(form, error, "settings.");
      }
    };

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const settings = {};
      for (const element of form.elements) {
        if (!element.name || element.disabled || element.name === "enabled" || element.dataset.readOnly) continue;
        if (element.closest(".field") && element.closest(".field").hidden) continue;
        const spec = specs.find((s) => s.name === element.name);
        if (spec && spec.secret && element.value === "") continue; // keep the stored secret
        settings[element.name] = element.value;
      }
      try {
        const saved = await api.put(`/admin/integrations/${id}`, { enabled: enabled.checked, settings });
        render(saved);
        card.querySelector(".form-message").replaceChildren(message(t("saved")));
      } catch (error) {
        showFieldError(form, error, "settings.");
      }
    });

    replace(
      card,
      h("h2", { id: `${id}-title` }, INTEGRATION_NAMES[id] || id),
      h("p", { class: "kind" }, current.kind === "calendar" ? t("kindCalendar") : t("kindMessenger")),
      statusBlock(current),
      form,
    );
    card.dataset.enabled = String(current.enabled);
    card.dataset.configured = String(current.configured);
    card.dataset.state = (current.status && current.status.state) || "unverified";
  };
  render(view);
  return card;
}

async function renderIntegrations(container, { api }) {
  const [document_, fields] = await Promise.all([api.get("/admin/integrations"), integrationFields()]);
  replace(
    container,
    document_.integrations.map((view) => integrationCard(view, fields[view.integration] || [], api)),
  );
}

// ---------------------------------------------------------------- 通知管理

async function renderNotifications(container, { api }) {
  const routing = await api.get("/admin/notification-settings");
  const channels = Object.keys(routing.channels);
  const items = [...new Set([...(routing.catalog || []), ...Object.keys(routing.items)])];
  const reasons = {};
  const head = h(
    "tr",
    {},
    h("th", { scope: "col" }, t("items")),
    channels.map((channel) => {
      const enabled = routing.channels[channel];
      const reason = enabled ? null : h("span", { class: "reason", id: `reason-${channel}` }, t("channelNotEnabled"));
      if (reason) reasons[channel] = reason.id;
      return h("th", { scope: "col", "data-enabled": String(enabled) }, INTEGRATION_NAMES[channel] || channel, reason);
    }),
  );
  const rows = items.map((item) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, itemName(item), h("small", { class: "item-key" }, item)),
      channels.map((channel) => {
        const input = h("input", {
          type: "checkbox",
          name: `${item}:${channel}`,
          id: uid("route"),
          checked: (routing.items[item] || []).includes(channel),
          disabled: !routing.channels[channel],
          "aria-describedby": reasons[channel] || null,
        });
        return h(
          "td",
          {},
          input,
          h("label", { for: input.id, class: "visually-hidden" }, `${itemName(item)} → ${INTEGRATION_NAMES[channel] || channel}`),
        );
      }),
    ),
  );
  const formMessage = h("div", { class: "form-message", "aria-live": "polite" });
  const form = h(
    "form",
    { id: "notification-settings" },
    h("div", { class: "table-wrap" }, h("table", { class: "matrix" }, h("thead", {}, head), h("tbody", {}, rows))),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "save" }, t("save"))),
    formMessage,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = {};
    for (const input of form.querySelectorAll('input[type="checkbox"]')) {
      const [item, channel] = splitRoute(input.name);
      if (input.checked) (chosen[item] = chosen[item] || []).push(channel);
    }
    try {
      await api.put("/admin/notification-settings", { items: chosen });
      formMessage.replaceChildren(message(t("saved")));
    } catch (error) {
      formMessage.replaceChildren(message(error.body?.message || error.message, "error"));
    }
  });
  replace(container, form);
}

function splitRoute(name) {
  const at = name.lastIndexOf(":");
  return [name.slice(0, at), name.slice(at + 1)];
}

// ---------------------------------------------------------------- employees (link health, 連携ID)

async function renderEmployees(container, { api }) {
  const table = h("tbody");
  const more = h("button", { type: "button", class: "next", hidden: true }, t("next"));
  let nextToken = null;
  let channels = null;
  const headRow = h("tr");
  const load = async () => {
    const page = await api.get(`/admin/links${query({ limit: 50, next_token: nextToken })}`);
    for (const employee of page.employees) {
      if (!channels) {
        channels = Object.keys(employee.links);
        replace(
          headRow,
          h("th", { scope: "col" }, t("employee")),
          channels.map((c) => h("th", { scope: "col" }, INTEGRATION_NAMES[c] || c)),
          h("th", { scope: "col" }, t("linkId")),
        );
      }
      const idInput = h("input", { type: "email", name: "google_workspace_id", autocomplete: "off" });
      const rowForm = h(
        "form",
        { class: "link-id" },
        field(`${t("linkId")}: ${employee.user_id}`, idInput),
        h("button", { type: "submit" }, t("save")),
        h("div", { class: "form-message", "aria-live": "polite" }),
      );
      rowForm.querySelector("label").classList.add("visually-hidden");
      rowForm.addEventListener("submit", async (event) => {
        event.preventDefault();
        try {
          const saved = await api.put(`/admin/users/${encodeURIComponent(employee.user_id)}/links`, {
            google_workspace_id: idInput.value,
          });
          idInput.value = saved.google_workspace_id || "";
          rowForm.querySelector(".form-message").replaceChildren(message(t("saved")));
        } catch (error) {
          showFieldError(rowForm, error, "");
        }
      });
      table.append(
        h(
          "tr",
          { "data-user": employee.user_id },
          h("th", { scope: "row", class: "user" }, employee.user_id),
          channels.map((channel) => {
            const state = employee.links[channel] || {};
            return h(
              "td",
              { "data-channel": channel, "data-state": state.state },
              stateText(state.state),
              state.reason ? h("small", {}, ` (${state.reason})`) : null,
            );
          }),
          h("td", {}, rowForm),
        ),
      );
    }
    nextToken = page.next_token;
    more.hidden = !nextToken;
    if (!table.children.length) table.append(h("tr", {}, h("td", {}, t("noRows"))));
  };
  more.addEventListener("click", load);
  replace(
    container,
    h("div", { class: "table-wrap" }, h("table", { id: "link-health" }, h("thead", {}, headRow), table)),
    more,
  );
  await load();
}

// ---------------------------------------------------------------- deliveries, failures, replay

const STATUSES = ["", "queued", "sending", "sent", "delivered", "retrying", "failed", "skipped"];

function deliveryRow(record) {
  return h(
    "tr",
    { "data-status": record.status, "data-channel": record.channel },
    h("td", {}, record.updated_at || record.created_at || ""),
    h("td", {}, record.event_id),
    h("td", {}, record.user_id),
    h("td", {}, INTEGRATION_NAMES[record.channel] || record.channel),
    h("td", { class: "delivery-status" }, record.status),
    h("td", {}, [record.reason, record.error_code].filter(Boolean).join(" · ")),
  );
}

function deliveryTable(id) {
  const body = h("tbody");
  const table = h(
    "table",
    { id },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        [t("time"), t("event"), t("employee"), t("channel"), t("statusFilter"), t("reason")].map((c) => h("th", { scope: "col" }, c)),
      ),
    ),
    body,
  );
  return { table, body };
}

/** A paginated listing: `fetchPage(nextToken)` → {rows, next_token}. */
function paginated(id, fetchPage) {
  const { table, body } = deliveryTable(id);
  const more = h("button", { type: "button", class: "next", hidden: true }, t("next"));
  let nextToken = null;
  const load = async (reset) => {
    if (reset) {
      body.replaceChildren();
      nextToken = null;
    }
    const page = await fetchPage(nextToken);
    body.append(...page.rows.map(deliveryRow));
    if (!body.children.length) body.append(h("tr", {}, h("td", { colspan: 6 }, t("noRows"))));
    nextToken = page.next_token;
    more.hidden = !nextToken;
  };
  more.addEventListener("click", () => load(false));
  return { element: h("div", { class: "table-wrap" }, table, more), load };
}

function input(name, label, attrs = {}) {
  return field(label, h("input", { name, type: "text", autocomplete: "off", ...attrs }));
}

async function renderDeliveries(container, { api }) {
  const filters = h(
    "form",
    { id: "delivery-filters", class: "filters" },
    h(
      "fieldset",
      {},
      h("legend", {}, t("filters")),
      input("event_id", t("event")),
      input("user_id", t("employee")),
      field(t("statusFilter"), h("select", { name: "status" }, STATUSES.map((s) => h("option", { value: s }, s || t("any"))))),
      h("button", { type: "submit" }, t("search")),
    ),
  );
  const log = paginated("deliveries", async (nextToken) => {
    const values = Object.fromEntries(new FormData(filters));
    const page = await api.get(`/admin/deliveries${query({ ...values, limit: 20, next_token: nextToken })}`);
    return { rows: page.deliveries, next_token: page.next_token };
  });
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    log.load(true);
  });

  const failureFilters = h(
    "form",
    { id: "failure-filters", class: "filters" },
    h(
      "fieldset",
      {},
      h("legend", {}, t("failures")),
      input("event_id", t("event")),
      input("item", t("item")),
      input("channel", t("channel")),
      h("button", { type: "submit", class: "search" }, t("search")),
      h("button", { type: "button", class: "dry-run" }, t("dryRun")),
      h("button", { type: "button", class: "replay", disabled: true }, t("replay")),
    ),
  );
  const replayMessage = h("div", { class: "form-message", id: "replay-message", "aria-live": "polite" });
  const failures = paginated("failures", async (nextToken) => {
    const values = Object.fromEntries(new FormData(failureFilters));
    const page = await api.get(`/admin/failures${query({ ...values, limit: 20, next_token: nextToken })}`);
    return { rows: page.failures, next_token: page.next_token };
  });
  const replayButton = failureFilters.querySelector(".replay");
  const request = () => {
    const values = Object.fromEntries(new FormData(failureFilters));
    return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== ""));
  };
  // Dry run first: the replay button opens only for the filters the dry run checked.
  for (const element of failureFilters.querySelectorAll("input")) {
    element.addEventListener("input", () => {
      replayButton.disabled = true;
    });
  }
  failureFilters.addEventListener("submit", (event) => {
    event.preventDefault();
    failures.load(true);
  });
  failureFilters.querySelector(".dry-run").addEventListener("click", async () => {
    try {
      const result = await api.post("/admin/failures/replay", { ...request(), dry_run: true });
      replayMessage.replaceChildren(message(t("replayMatched", result)));
      replayButton.disabled = result.matched === 0;
    } catch (error) {
      replayMessage.replaceChildren(message(error.body?.message || error.message, "error"));
    }
  });
  replayButton.addEventListener("click", async () => {
    replayButton.disabled = true;
    try {
      const result = await api.post("/admin/failures/replay", request());
      replayMessage.replaceChildren(message(t("replayDone", result)));
      await failures.load(true);
    } catch (error) {
      replayMessage.replaceChildren(message(error.body?.message || error.message, "error"));
    }
  });
  replace(
    container,
    filters,
    log.element,
    h("h2", { id: "failures-title" }, t("failures")),
    failureFilters,
    replayMessage,
    failures.element,
  );
  await Promise.all([log.load(true), failures.load(true)]);
}

export const ADMIN_PAGES = [
  { route: "integrations", title: "navIntegrations", admin: true, render: renderIntegrations },
  { route: "notifications", title: "navNotifications", admin: true, render: renderNotifications },
  { route: "employees", title: "navEmployees", admin: true, render: renderEmployees },
  { route: "deliveries", title: "navDeliveries", admin: true, render: renderDeliveries },
];

export { deliveryTable, deliveryRow, paginated, message, showFieldError, stateText };
