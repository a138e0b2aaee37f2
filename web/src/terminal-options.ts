// How every terminal in the web app draws text (console, replay, live watch). A font stack that
// names real monospace fonts first, and a line a little taller than the font: with a line height
// of exactly 1, a font whose underscore sits below its descent line loses it to the row below
// (array_sum read as "array sum"). browser-console.test.ts checks an underscore is drawn.
export const TERMINAL_TEXT = {
  fontFamily: '"DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, "Cascadia Mono", ui-monospace, monospace',
  fontSize: 14,
  lineHeight: 1.15,
} as const;
