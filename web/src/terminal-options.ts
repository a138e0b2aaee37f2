// How every terminal in the web app draws text (console, replay, live watch). A font stack that
// names real monospace fonts first, and a line a little taller than the font: with a line height
// of exactly 1, a font whose underscore sits below its descent line loses it to the row below
// (array_sum read as "array sum"). browser-console.test.ts checks an underscore is drawn.
import type { Terminal } from '@xterm/xterm';

export const TERMINAL_TEXT = {
  fontFamily: '"DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, "Cascadia Mono", ui-monospace, monospace',
  fontSize: 14,
  lineHeight: 1.15,
} as const;

/**
 * Draws a terminal of whatever size was recorded (or is being watched) within `box`: the font
 * shrinks until the whole screen fits the box's width (never above TERMINAL_TEXT's size), as
 * asciinema-player and Teleport's player do, so a 200-column session fits a phone without the
 * page scrolling sideways. Follows resizes of the terminal and of the window.
 */
export function scaleToFit(term: Terminal, box: HTMLElement): () => void {
  const fit = () => {
    const screen = term.element?.querySelector<HTMLElement>('.xterm-screen');
    const available = box.clientWidth - 8; // the player's padding
    if (!screen || !screen.offsetWidth || available <= 0) return;
    const current = term.options.fontSize ?? TERMINAL_TEXT.fontSize;
    const wanted = Math.max(2, Math.min(TERMINAL_TEXT.fontSize, Math.floor(((current * available) / screen.offsetWidth) * 4) / 4));
    // The screen's width follows the font a render later; the observer below calls again then.
    if (wanted !== current && (wanted < current || screen.offsetWidth < available * 0.97)) term.options.fontSize = wanted;
  };
  const observer = new ResizeObserver(() => fit());
  observer.observe(box);
  const screen = term.element?.querySelector<HTMLElement>('.xterm-screen');
  if (screen) observer.observe(screen);
  const resized = term.onResize(() => requestAnimationFrame(fit));
  fit();
  return () => {
    observer.disconnect();
    resized.dispose();
  };
}
