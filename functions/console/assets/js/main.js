// The console's shell: sign-in from the fragment, who is signed in, the menu, and the page for the route
// (#/integrations, #/notifications, #/employees, #/deliveries, #/me, #/my-deliveries).

import { createApi } from "./api.js";
import { h, replace } from "./dom.js";
import { lang, t } from "./i18n.js";
import { ADMIN_PAGES } from "./admin.js";
import { MEMBER_PAGES } from "./me.js";
import { claimsOf, forgetToken, isExpired, takeToken } from "./session.js";

const main = document.getElementById("main");
const header = document.getElementById("header");

function showSignIn() {
  forgetToken();
  header.hidden = true;
  document.title = t("signinTitle");
  replace(
    main,
    h("section", { id: "signin", class: "card" }, h("h1", {}, t("signinTitle")), h("p", {}, t("signinBody"))),
  );
}

function roleName(role) {
  return role === "admin" ? t("roleAdmin") : t("roleMember");
}

function renderHeader(me) {
  const who = document.getElementById("whoami");
  replace(
    who,
    h("span", { class: "who-label" }, `${t("signedInAs")}: `),
    h("span", { id: "who-company", title: me.company_id }, me.company_name || me.company_id),
    " / ",
    h("span", { id: "who-user", title: me.user_id }, me.name || me.user_id),
    " / ",
    h("span", { id: "who-role", "data-role": me.role }, roleName(me.role)),
  );
  const pages = me.role === "admin" ? [...ADMIN_PAGES, ...MEMBER_PAGES] : MEMBER_PAGES;
  const nav = document.getElementById("nav");
  nav.setAttribute("aria-label", t("menu"));
  replace(
    nav,
    h(
      "ul",
      {},
      pages.map((page) => h("li", {}, h("a", { href: `#/${page.route}`, id: `nav-${page.route}` }, t(page.title)))),
    ),
  );
  header.hidden = false;
}

function markCurrent(route) {
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.getAttribute("href") === `#/${route}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function start() {
  document.documentElement.lang = lang;
  document.title = t("title");
  const skip = document.getElementById("skip-link");
  skip.textContent = t("skip");
  // The fragment is the router's: the skip link moves focus itself.
  skip.addEventListener("click", (event) => {
    event.preventDefault();
    main.focus();
  });
  const token = takeToken();
  if (!token || isExpired(claimsOf(token))) {
    showSignIn();
    return;
  }
  const api = createApi(token, { onUnauthorized: showSignIn });
  let me;
  try {
    me = await api.get("/me");
  } catch {
    showSignIn();
    return;
  }
  renderHeader(me);
  const all = [...ADMIN_PAGES, ...MEMBER_PAGES];
  const route = async () => {
    const name = window.location.hash.replace(/^#\/?/, "") || (me.role === "admin" ? "integrations" : "me");
    const page = all.find((p) => p.route === name) || MEMBER_PAGES[0];
    markCurrent(page.route);
    const container = h("section", { id: `page-${page.route}`, "aria-labelledby": `title-${page.route}` });
    replace(main, h("h1", { id: `title-${page.route}` }, t(page.title)), container);
    document.title = `${t(page.title)} — ${t("title")}`;
    if (page.admin && me.role !== "admin") {
      // The API refuses a member these pages anyway; the console does not offer them.
      replace(
        container,
        h("div", { id: "admin-only", class: "card notice" }, h("h2", {}, t("adminOnlyTitle")), h("p", {}, t("adminOnlyBody"))),
      );
    } else {
      try {
        await page.render(container, { api, me });
      } catch (error) {
        if (error && error.status === 401) return;
        container.append(h("p", { class: "error", role: "alert" }, `${t("error")}: ${error.message || error}`));
      }
    }
    container.dataset.ready = "true";
  };
  window.addEventListener("hashchange", route);
  await route();
}

start();
