/* The no-code condition builder of rule tags and segments.

   <div data-condition-builder data-catalogue="id-of-json" data-initial="id-of-json" data-labels="id-of-json"
        data-output="id-of-textarea"></div>

   It draws nested groups (all / any, optionally negated) of field/op/value rows from the
   catalogue (conditions.FIELDS), keeps the definition as JSON in the output element (a form
   field), and fires "builderchange" on the builder's closest form after every edit. Each row
   carries data-path, the path the server's validation names ("all[0].any[1].value"), so an error
   can point at the wrong condition: HainaBuilder.showError(builder, path, message). */
(function () {
  "use strict";

  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (key) {
      if (key === "text") node.textContent = attributes[key];
      else if (key === "className") node.className = attributes[key];
      else node.setAttribute(key, attributes[key]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function readJson(id, fallback) {
    var source = id && document.getElementById(id);
    if (!source) return fallback;
    try { return JSON.parse(source.textContent); } catch (error) { return fallback; }
  }

  function join(path, part) { return path ? path + "." + part : part; }

  // ── Model ⇄ definition ─────────────────────────────────────────────────────────────────────

  function group(mode, children, negate) {
    return { kind: "group", mode: mode || "all", negate: !!negate, children: children || [] };
  }

  function fromDefinition(definition) {
    if (!definition || typeof definition !== "object") return group("all", []);
    if (definition.not) {
      var inner = fromDefinition(definition.not);
      if (inner.kind === "group" && !inner.negate) { inner.negate = true; return inner; }
      return group("all", [inner], true);
    }
    if (Array.isArray(definition.all)) return group("all", definition.all.map(fromDefinition));
    if (Array.isArray(definition.any)) return group("any", definition.any.map(fromDefinition));
    var params = {};
    Object.keys(definition).forEach(function (key) {
      if (key !== "field" && key !== "op" && key !== "value") params[key] = definition[key];
    });
    return { kind: "leaf", field: definition.field, op: definition.op, value: definition.value, params: params };
  }

  function toDefinition(node) {
    if (node.kind === "leaf") {
      var leaf = { field: node.field, op: node.op, value: node.value };
      Object.keys(node.params || {}).forEach(function (key) {
        var value = node.params[key];
        if (value !== "" && value !== null && value !== undefined && !(Array.isArray(value) && !value.length)) {
          leaf[key] = value;
        }
      });
      return leaf;
    }
    var body = {};
    body[node.mode] = node.children.map(toDefinition);
    return node.negate ? { not: body } : body;
  }

  // ── Builder ────────────────────────────────────────────────────────────────────────────────

  function Builder(root) {
    this.root = root;
    var catalogue = readJson(root.getAttribute("data-catalogue"), { fields: [], tags: [] });
    this.fields = catalogue.fields || [];
    this.tags = catalogue.tags || [];
    this.byName = {};
    var self = this;
    this.fields.forEach(function (spec) { self.byName[spec.name] = spec; });
    this.labels = readJson(root.getAttribute("data-labels"), {});
    this.output = document.getElementById(root.getAttribute("data-output"));
    var initial = readJson(root.getAttribute("data-initial"), null);
    this.model = initial ? fromDefinition(initial) : group("all", []);
    if (this.model.kind === "leaf") this.model = group("all", [this.model]);
    this.readOnly = root.hasAttribute("data-readonly");
    this.render();
    // The first count: after htmx has bound its triggers on DOMContentLoaded.
    setTimeout(function () { self.changed(false); }, 0);
  }

  Builder.prototype.label = function (key, fallback) {
    return this.labels[key] || fallback || key;
  };

  Builder.prototype.changed = function (redraw) {
    if (redraw) this.render(); else this.sync();
    var form = this.root.closest("form") || this.root;
    form.dispatchEvent(new CustomEvent("builderchange", { bubbles: true }));
  };

  Builder.prototype.sync = function () {
    if (this.output) this.output.value = JSON.stringify(this.definition());
  };

  Builder.prototype.definition = function () { return toDefinition(this.model); };

  Builder.prototype.render = function () {
    this.root.innerHTML = "";
    this.root.appendChild(this.renderGroup(this.model, "", null));
    this.sync();
  };

  Builder.prototype.newLeaf = function () {
    var spec = this.fields[0];
    return { kind: "leaf", field: spec.name, op: spec.ops[0].op, value: this.defaultValue(spec, spec.ops[0].op), params: {} };
  };

  Builder.prototype.defaultValue = function (spec, op) {
    var type = spec.value_type;
    if (type === "int" || type === "money") return op === "between" ? [0, 1] : (spec.name === "no_order_in_days" ? 90 : 1);
    if (type === "boolean") return true;
    if (type === "tag_ids") return [];
    if (op === "in" || op === "not_in") return [];
    if (type === "choice") return spec.choices.length ? spec.choices[0].value : "";
    return "";
  };

  Builder.prototype.renderGroup = function (node, path, parent) {
    var self = this;
    var inner = join(path, (node.negate ? "not." : "") + node.mode);
    var box = el("div", { className: "cb-group" + (node.negate ? " is-negated" : ""), "data-path": path, "data-group": node.mode });
    var head = el("div", { className: "cb-group-head" });
    var mode = el("select", { className: "input input-small", "data-role": "mode", "aria-label": this.label("mode") });
    [["all", this.label("mode.all")], ["any", this.label("mode.any")]].forEach(function (item) {
      var option = el("option", { value: item[0], text: item[1] });
      if (item[0] === node.mode) option.selected = true;
      mode.appendChild(option);
    });
    mode.addEventListener("change", function () { node.mode = mode.value; self.changed(true); });
    var negate = el("input", { type: "checkbox", "data-role": "negate" });
    negate.checked = node.negate;
    negate.addEventListener("change", function () { node.negate = negate.checked; self.changed(true); });
    head.appendChild(mode);
    head.appendChild(el("label", { className: "cb-negate" }, [negate, el("span", { text: this.label("negate") })]));
    if (!this.readOnly) {
      var addLeaf = el("button", { type: "button", className: "button button-small", "data-action": "add-condition", text: "+ " + this.label("add_condition") });
      addLeaf.addEventListener("click", function () { node.children.push(self.newLeaf()); self.changed(true); });
      var addGroup = el("button", { type: "button", className: "button button-small", "data-action": "add-group", text: "+ " + this.label("add_group") });
      addGroup.addEventListener("click", function () { node.children.push(group("any", [self.newLeaf()])); self.changed(true); });
      head.appendChild(addLeaf);
      head.appendChild(addGroup);
      if (parent) {
        var remove = el("button", { type: "button", className: "button button-text button-small", "data-action": "remove-group", text: this.label("remove") });
        remove.addEventListener("click", function () { parent.children.splice(parent.children.indexOf(node), 1); self.changed(true); });
        head.appendChild(remove);
      }
    } else {
      mode.disabled = true; negate.disabled = true;
    }
    box.appendChild(head);
    var list = el("div", { className: "cb-children" });
    node.children.forEach(function (child, index) {
      var childPath = inner + "[" + index + "]";
      list.appendChild(child.kind === "group" ? self.renderGroup(child, childPath, node) : self.renderLeaf(child, childPath, node));
    });
    if (!node.children.length) list.appendChild(el("p", { className: "muted cb-empty", text: this.label("empty") }));
    box.appendChild(list);
    return box;
  };

  Builder.prototype.renderLeaf = function (node, path, parent) {
    var self = this;
    var spec = this.byName[node.field] || this.fields[0];
    var row = el("div", { className: "cb-leaf", "data-path": path, "data-field": spec.name });
    var field = el("select", { className: "input input-small", "data-role": "field", "aria-label": this.label("field") });
    var sections = {};
    this.fields.forEach(function (item) {
      if (!sections[item.group]) {
        sections[item.group] = el("optgroup", { label: item.group_label });
        field.appendChild(sections[item.group]);
      }
      var option = el("option", { value: item.name, text: item.label });
      if (item.name === spec.name) option.selected = true;
      sections[item.group].appendChild(option);
    });
    field.addEventListener("change", function () {
      var next = self.byName[field.value];
      node.field = next.name;
      node.op = next.ops[0].op;
      node.value = self.defaultValue(next, node.op);
      node.params = {};
      self.changed(true);
    });
    var op = el("select", { className: "input input-small", "data-role": "op", "aria-label": this.label("op") });
    spec.ops.forEach(function (item) {
      var option = el("option", { value: item.op, text: item.label });
      if (item.op === node.op) option.selected = true;
      op.appendChild(option);
    });
    op.addEventListener("change", function () {
      var wasList = Array.isArray(node.value);
      node.op = op.value;
      if (wasList !== Array.isArray(self.defaultValue(spec, node.op))) node.value = self.defaultValue(spec, node.op);
      self.changed(true);
    });
    row.appendChild(field);
    row.appendChild(op);
    row.appendChild(this.renderValue(spec, node, path));
    if (spec.params.length) {
      // The time window first; the rarer parameters fold away unless one is set.
      var params = el("div", { className: "cb-params" });
      var more = el("details", { className: "cb-more" }, [el("summary", { text: this.label("more_params") })]);
      var moreBox = el("div", { className: "cb-params" });
      spec.params.forEach(function (param) {
        var holder = param.name === "days" || param.value_type === "int" ? params : moreBox;
        if (holder === moreBox && node.params[param.name] !== undefined) more.open = true;
        holder.appendChild(self.renderParam(param, node, join(path, param.name)));
      });
      if (params.childNodes.length) row.appendChild(params);
      if (moreBox.childNodes.length) { more.appendChild(moreBox); row.appendChild(more); }
    }
    if (!this.readOnly) {
      var remove = el("button", { type: "button", className: "button button-text button-small", "data-action": "remove-condition", text: this.label("remove") });
      remove.addEventListener("click", function () { parent.children.splice(parent.children.indexOf(node), 1); self.changed(true); });
      row.appendChild(remove);
    } else {
      row.querySelectorAll("select, input").forEach(function (input) { input.disabled = true; });
    }
    row.appendChild(el("div", { className: "field-error cb-error", "data-role": "error" }));
    return row;
  };

  function numberInput(value, onChange, role) {
    var input = el("input", { type: "number", className: "input input-small cb-number", min: "0", step: "1", "data-role": role || "value" });
    input.value = value === undefined || value === null ? "" : value;
    input.addEventListener("input", function () {
      onChange(input.value === "" ? null : (/^-?\d+$/.test(input.value) ? parseInt(input.value, 10) : input.value));
    });
    return input;
  }

  function listText(value) { return Array.isArray(value) ? value.join(", ") : (value || ""); }

  function parseList(text) {
    return text.split(/[,，;；\n]/).map(function (part) { return part.trim(); }).filter(Boolean);
  }

  Builder.prototype.checkboxes = function (choices, selected, onChange, role) {
    var box = el("div", { className: "cb-choices", "data-role": role });
    choices.forEach(function (choice) {
      var input = el("input", { type: "checkbox", value: choice.value });
      input.checked = (selected || []).indexOf(choice.value) >= 0;
      input.addEventListener("change", function () {
        var values = [];
        box.querySelectorAll("input:checked").forEach(function (checked) { values.push(checked.value); });
        onChange(values);
      });
      box.appendChild(el("label", { className: "cb-choice" }, [input, el("span", { text: choice.label })]));
    });
    return box;
  };

  Builder.prototype.renderValue = function (spec, node, path) {
    var self = this;
    var done = function (value) { node.value = value; self.changed(false); };
    var type = spec.value_type;
    var wrap = el("span", { className: "cb-value", "data-path": join(path, "value") });
    if (type === "int" || type === "money") {
      if (node.op === "between") {
        var pair = Array.isArray(node.value) ? node.value.slice() : [0, 0];
        wrap.appendChild(numberInput(pair[0], function (value) { pair[0] = value; done(pair.slice()); }, "value-low"));
        wrap.appendChild(el("span", { className: "muted", text: " – " }));
        wrap.appendChild(numberInput(pair[1], function (value) { pair[1] = value; done(pair.slice()); }, "value-high"));
      } else {
        wrap.appendChild(numberInput(node.value, done));
      }
      if (type === "money") wrap.appendChild(el("span", { className: "muted cb-unit", text: this.label("fen") }));
      return wrap;
    }
    if (type === "boolean") {
      var yesNo = el("select", { className: "input input-small", "data-role": "value" });
      [[true, this.label("yes")], [false, this.label("no")]].forEach(function (item) {
        var option = el("option", { value: String(item[0]), text: item[1] });
        if (item[0] === node.value) option.selected = true;
        yesNo.appendChild(option);
      });
      yesNo.addEventListener("change", function () { done(yesNo.value === "true"); });
      wrap.appendChild(yesNo);
      return wrap;
    }
    if (type === "tag_ids") {
      var tags = this.tags.map(function (tag) { return { value: tag.id, label: (tag.group ? tag.group + " / " : "") + tag.name }; });
      wrap.appendChild(this.checkboxes(tags, node.value, done, "value"));
      return wrap;
    }
    if (type === "choice") {
      if (node.op === "in" || node.op === "not_in") {
        wrap.appendChild(this.checkboxes(spec.choices, node.value, done, "value"));
        return wrap;
      }
      var select = el("select", { className: "input input-small", "data-role": "value" });
      spec.choices.forEach(function (choice) {
        var option = el("option", { value: choice.value, text: choice.label });
        if (choice.value === node.value) option.selected = true;
        select.appendChild(option);
      });
      select.addEventListener("change", function () { done(select.value); });
      wrap.appendChild(select);
      return wrap;
    }
    var many = node.op === "in" || node.op === "not_in";
    var text = el("input", { type: "text", className: "input input-small cb-text", maxlength: many ? "2000" : "64", "data-role": "value",
      placeholder: many ? this.label("list_hint") : this.label("text_hint") });
    text.value = many ? listText(node.value) : (node.value || "");
    text.addEventListener("input", function () { done(many ? parseList(text.value) : text.value); });
    wrap.appendChild(text);
    return wrap;
  };

  Builder.prototype.renderParam = function (param, node, path) {
    var self = this;
    var current = node.params[param.name];
    var set = function (value) {
      if (value === null || value === "" || (Array.isArray(value) && !value.length)) delete node.params[param.name];
      else node.params[param.name] = value;
      self.changed(false);
    };
    var wrap = el("label", { className: "cb-param", "data-path": path, "data-param": param.name }, [el("span", { className: "cb-param-label", text: param.label })]);
    if (param.value_type === "int") wrap.appendChild(numberInput(current, set, "param-" + param.name));
    else if (param.value_type === "date") {
      var day = el("input", { type: "date", className: "input input-small", "data-role": "param-" + param.name });
      day.value = current || "";
      day.addEventListener("change", function () { set(day.value); });
      wrap.appendChild(day);
    } else if (param.value_type === "choice_list") {
      wrap.appendChild(this.checkboxes(param.choices, current, set, "param-" + param.name));
    } else if (param.value_type === "text_list") {
      var list = el("input", { type: "text", className: "input input-small", "data-role": "param-" + param.name, placeholder: this.label("list_hint") });
      list.value = listText(current);
      list.addEventListener("input", function () { set(parseList(list.value)); });
      wrap.appendChild(list);
    } else {
      var text = el("input", { type: "text", className: "input input-small", maxlength: "64", "data-role": "param-" + param.name });
      text.value = current || "";
      text.addEventListener("input", function () { set(text.value.trim()); });
      wrap.appendChild(text);
    }
    return wrap;
  };

  // ── Errors ─────────────────────────────────────────────────────────────────────────────────

  function clearError(root) {
    root.querySelectorAll(".is-invalid-condition").forEach(function (node) { node.classList.remove("is-invalid-condition"); });
    root.querySelectorAll("[data-role=error]").forEach(function (node) { node.textContent = ""; });
  }

  function showError(root, path, message) {
    clearError(root);
    if (path === undefined || path === null) return null;
    var best = null;
    root.querySelectorAll("[data-path]").forEach(function (node) {
      var own = node.getAttribute("data-path");
      var matches = own === path || own === "" || path.indexOf(own + ".") === 0 || path.indexOf(own + "[") === 0;
      if (matches && (!best || own.length > best.getAttribute("data-path").length)) best = node;
    });
    if (!best) return null;
    var row = best.closest(".cb-leaf") || best.closest(".cb-group") || best;
    row.classList.add("is-invalid-condition");
    best.classList.add("is-invalid-condition");
    var slot = row.querySelector(":scope > [data-role=error]");
    if (slot) slot.textContent = message || "";
    row.scrollIntoView({ block: "center" });
    return row;
  }

  var builders = [];

  function start(scope) {
    (scope || document).querySelectorAll("[data-condition-builder]").forEach(function (root) {
      if (root.hainaBuilder) return;
      root.hainaBuilder = new Builder(root);
      builders.push(root.hainaBuilder);
    });
  }

  window.HainaBuilder = {
    start: start,
    showError: showError,
    clearError: clearError,
    toDefinition: toDefinition,
    fromDefinition: fromDefinition,
  };
  // ── Saving: <form data-save-json="/api/v1/tags" data-method="POST" data-redirect="/tags/{id}"
  //    data-definition-key="rule"> posts its named fields and the builder's definition as JSON.

  function flash(message) {
    var area = document.getElementById("flash");
    if (!area) return;
    area.innerHTML = "";
    if (message) area.appendChild(el("div", { className: "alert alert-error", role: "alert", "data-save-error": "", text: message }));
  }

  function formBody(form) {
    var body = {};
    form.querySelectorAll("[name]").forEach(function (input) {
      var name = input.getAttribute("name");
      if (name === "csrf_token" || input.closest("[data-condition-builder]") || input.hasAttribute("data-builder-output")) return;
      if ((input.type === "radio" || input.type === "checkbox") && !input.checked) return;
      var value = input.value;
      if (input.getAttribute("data-type") === "int") value = value === "" ? 0 : parseInt(value, 10);
      body[name] = value;
    });
    return body;
  }

  function save(form) {
    var builderRoot = form.querySelector("[data-condition-builder]");
    var builder = builderRoot && builderRoot.hainaBuilder;
    var body = formBody(form);
    var key = form.getAttribute("data-definition-key");
    var manual = form.getAttribute("data-kind-field") && body[form.getAttribute("data-kind-field")] === "manual";
    if (builder && key && !manual) body[key] = builder.definition();
    if (builderRoot) clearError(builderRoot);
    flash("");
    var button = form.querySelector("[type=submit]");
    if (button) button.disabled = true;
    var meta = document.querySelector('meta[name="csrf-token"]');
    fetch(form.getAttribute("data-save-json"), {
      method: form.getAttribute("data-method") || "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": meta ? meta.getAttribute("content") : "" },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (result) {
      if (button) button.disabled = false;
      if (result.ok) {
        window.location.assign(form.getAttribute("data-redirect").replace("{id}", result.data.id || ""));
        return;
      }
      var error = result.data.error || {};
      var details = error.details || {};
      var zh = document.documentElement.lang !== "en";
      var message = (zh && details.message_zh) || error.message || "error";
      flash(message);
      if (builderRoot && details.path !== undefined) {
        showError(builderRoot, details.path, zh ? (details.problem_zh || message) : (details.problem_en || message));
      }
    }).catch(function () {
      if (button) button.disabled = false;
      flash(form.getAttribute("data-network-error") || "network error");
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target.closest && event.target.closest("form[data-save-json]");
    if (!form) return;
    event.preventDefault();
    save(form);
  });

  // A live count answering with an invalid definition names its path: point at the condition.
  document.addEventListener("htmx:after:swap", function () {
    // A batch evaluation watched on its tag's page has finished: show the new carriers.
    if (document.querySelector("#evaluation[data-finished-now]")) {
      setTimeout(function () { window.location.reload(); }, 600);
    }
    document.querySelectorAll("[data-count-ok]").forEach(function (node) {
      var root = (node.closest("form") || document).querySelector("[data-condition-builder]");
      if (root) clearError(root);
    });
    document.querySelectorAll("[data-condition-error]").forEach(function (node) {
      var form = node.closest("form") || document;
      var root = form.querySelector("[data-condition-builder]") || document.querySelector("[data-condition-builder]");
      if (root) showError(root, node.getAttribute("data-condition-error"), node.getAttribute("data-problem") || node.textContent);
    });
  });

  // Manual or rule tag: the rule section only for a rule tag.
  document.addEventListener("change", function (event) {
    if (!event.target.matches || !event.target.matches("[data-kind-toggle]")) return;
    var form = event.target.closest("form");
    var section = form && form.querySelector("[data-rule-section]");
    if (section) section.hidden = event.target.value !== "rule";
  });

  document.addEventListener("DOMContentLoaded", function () { start(document); });
})();
