// Building the page: every text goes in as a text node (never parsed as markup), so a company or employee name
// with markup in it shows as the characters it is.

/** An element: `attrs` are attributes (true: present, false/null: absent; `on*` functions: listeners). */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "value") {
      element.value = value;
    } else if (name === "checked") {
      element.checked = Boolean(value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's content. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

let counter = 0;
/** A unique element id (labels and descriptions point at inputs by id). */
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** A labelled form control: a <div class="field"> with its <label for>, the control and its error slot. */
export function field(labelText, control, { help, errorId } = {}) {
  if (!control.id) control.id = uid("f");
  const describedBy = [];
  const helpElement = help ? h("p", { class: "help", id: uid("help") }, help) : null;
  if (helpElement) describedBy.push(helpElement.id);
  const error = h("p", { class: "field-error", id: errorId || uid("err"), role: "alert", hidden: true });
  describedBy.push(error.id);
  control.setAttribute("aria-describedby", describedBy.join(" "));
  return h("div", { class: "field" }, h("label", { for: control.id }, labelText), control, helpElement, error);
}

/** An SVG QR code of `text` (qrcode-generator, vendored), drawn as rects: no markup strings, no data: URL. */
export function qrCode(text, title) {
  const NS = "http://www.w3.org/2000/svg";
  const code = window.qrcode(0, "M");
  code.addData(text, "Byte");
  code.make();
  const count = code.getModuleCount();
  const quiet = 4;
  const size = count + quiet * 2;
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", title);
  svg.setAttribute("class", "qr");
  const background = document.createElementNS(NS, "rect");
  background.setAttribute("width", size);
  background.setAttribute("height", size);
  background.setAttribute("fill", "#fff");
  svg.append(background);
  const path = [];
  for (let row = 0; row < count; row += 1) {
    for (let col = 0; col < count; col += 1) {
      if (code.isDark(row, col)) path.push(`M${col + quiet} ${row + quiet}h1v1h-1z`);
    }
  }
  const modules = document.createElementNS(NS, "path");
  modules.setAttribute("d", path.join(""));
  modules.setAttribute("fill", "#000");
  svg.append(modules);
  return svg;
}
