/**
 * Text from outside (a participant's status message) made fit for a reason
 * that is stored, logged and sent to clients: control and other unprintable
 * characters become a space (a message cannot forge log lines or carry raw
 * bytes), runs of spaces collapse, and it is cut to `max` characters.
 */
export function printableText(text: string, max: number): string {
  const clean = text
    .replace(/[^\p{L}\p{M}\p{N}\p{P}\p{S}\p{Zs}]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const chars = Array.from(clean);
  return chars.length <= max ? clean : `${chars.slice(0, max - 1).join('')}…`;
}
