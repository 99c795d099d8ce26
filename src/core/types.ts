/**
 * Branded scalar types. They cost nothing at run time and keep the address
 * spaces apart in the type checker: a guest-physical address cannot be passed
 * where a guest-virtual one is expected without an explicit cast.
 */

/** Guest-physical address (fits in a double exactly; RAM lives below 2^53). */
export type Gpa = number & { readonly __brand: 'Gpa' };
/** Guest-virtual address, low 32 bits only where noted by the caller. */
export type Gva = number & { readonly __brand: 'Gva' };
/** Hart (vCPU) index inside one domain. */
export type HartId = number & { readonly __brand: 'HartId' };
/** Domain identifier; 0 is reserved for the host side. */
export type DomId = number & { readonly __brand: 'DomId' };

export const gpa = (n: number): Gpa => n as Gpa;
export const hartId = (n: number): HartId => n as HartId;
export const domId = (n: number): DomId => n as DomId;
