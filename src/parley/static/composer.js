// The message box: text, Enter to send, an image by picker, drag-and-drop or paste.

import { t } from "./i18n.js";
import { $, setText } from "./ui.js";
import { fileSize, imageRefusal } from "./statuses.js";
import { imageLimit, limits } from "./state.js";

export class Composer {
  /** onSend({text, file}) returns true when the message went out. */
  constructor(onSend) {
    this.onSend = onSend;
    this.form = $("composer");
    this.input = $("text-input");
    this.fileInput = $("file-input");
    this.file = null;
    this.previewUrl = null;
    this.busy = false;

    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener("input", () => this.autosize());
    this.fileInput.addEventListener("change", () => {
      const file = this.fileInput.files?.[0];
      this.fileInput.value = "";
      if (file) this.attach(file);
    });
    $("attach").addEventListener("click", () => this.fileInput.click());
    $("attachment-remove").addEventListener("click", () => this.detach());
    this.input.addEventListener("paste", (event) => {
      const file = firstFile(event.clipboardData);
      if (file) {
        event.preventDefault();
        this.attach(file);
      }
    });
    this.setupDrop($("chat"));
  }

  setupDrop(zone) {
    const hint = $("drop-hint");
    let depth = 0;
    const hasFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes("Files");
    zone.addEventListener("dragenter", (event) => {
      if (!hasFiles(event) || this.form.hidden) return;
      depth += 1;
      hint.hidden = false;
    });
    zone.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) hint.hidden = true;
    });
    zone.addEventListener("dragover", (event) => {
      if (!hasFiles(event) || this.form.hidden) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    });
    zone.addEventListener("drop", (event) => {
      depth = 0;
      hint.hidden = true;
      if (this.form.hidden) return;
      const file = firstFile(event.dataTransfer);
      if (!file) return;
      event.preventDefault();
      this.attach(file);
    });
  }

  enable(on) {
    this.form.hidden = !on;
  }

  focus() {
    this.input.focus();
  }

  attach(file) {
    const refusal = imageRefusal(file, { maxBytes: imageLimit(), types: limits.image_types });
    if (refusal) {
      this.showError(refusal);
      return;
    }
    this.showError(null);
    this.detach();
    this.file = file;
    this.previewUrl = URL.createObjectURL(file);
    const img = $("attachment-img");
    img.hidden = false;
    img.onerror = () => {
      img.hidden = true;
    };
    img.src = this.previewUrl;
    setText($("attachment-name"), () => `${file.name || t("composer.pastedImage")} · ${fileSize(file.size)}`);
    $("attachment").hidden = false;
    this.input.focus();
  }

  detach() {
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = null;
    this.file = null;
    $("attachment").hidden = true;
    $("attachment-img").removeAttribute("src");
  }

  /** Put a message that was not sent back into the box, unless something new is there. */
  restore({ text, file }) {
    if (this.input.value === "" && text) {
      this.input.value = text;
      this.autosize();
    }
    if (this.file === null && file) this.attach(file);
  }

  /**
   * Show a notice above the box (null hides it); `key` names it for clearError. `text` may
   * be a function, so the notice follows a change of language (see setText).
   */
  showError(text, key = null) {
    const node = $("composer-error");
    node.hidden = text === null;
    setText(node, text);
    this.errorKey = text === null ? null : key;
  }

  /** Hide the notice if it is still the one shown with this key. */
  clearError(key) {
    if (this.errorKey === key) this.showError(null);
  }

  clear() {
    this.input.value = "";
    this.detach();
    this.autosize();
  }

  async submit() {
    const text = this.input.value.trim();
    const file = this.file;
    if (this.busy || (text === "" && file === null)) return;
    this.showError(null);
    this.busy = file !== null; // reading an image takes a moment: no second send meanwhile
    try {
      const sent = await this.onSend({ text, file });
      if (sent) this.clear();
    } finally {
      this.busy = false;
    }
  }

  autosize() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 200)}px`;
  }
}

function firstFile(dataTransfer) {
  if (!dataTransfer) return null;
  for (const item of dataTransfer.items ?? []) {
    if (item.kind === "file") return item.getAsFile();
  }
  return dataTransfer.files?.[0] ?? null;
}

/** A file's content as plain base64 (no data: prefix). */
export function readAsBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => {
      const url = String(reader.result);
      resolve(url.slice(url.indexOf(",") + 1));
    };
    reader.onerror = () => reject(reader.error ?? new Error("could not read the file"));
    reader.readAsDataURL(file);
  });
}
