import type { InProcessProvider, ProviderInfo } from './provider.js';
import type { Settings } from './settings.js';

/** A provider known to the server: in-process ones carry their `process` function. */
export interface RegisteredProvider {
  info: ProviderInfo;
  inProcess: InProcessProvider | null;
}

/**
 * All providers, in registration order. Upstream's rule for choosing one (SEMANTICS.md §1):
 * the admin's preferred provider for the type when it exists, else the first registered.
 */
export class ProviderRegistry {
  private readonly providers = new Map<string, RegisteredProvider>();

  addInProcess(provider: InProcessProvider): void {
    this.add({ info: provider, inProcess: provider });
  }

  /** A later registration with the same id replaces the earlier one. */
  add(provider: RegisteredProvider): void {
    this.providers.delete(provider.info.id);
    this.providers.set(provider.info.id, provider);
  }

  remove(id: string): boolean {
    return this.providers.delete(id);
  }

  get(id: string): RegisteredProvider | undefined {
    return this.providers.get(id);
  }

  all(): RegisteredProvider[] {
    return [...this.providers.values()];
  }

  /** Providers of a type that can work now. */
  availableFor(taskType: string): RegisteredProvider[] {
    return this.all().filter((p) => p.info.taskType === taskType && isAvailable(p));
  }

  preferred(taskType: string, settings: Pick<Settings, 'providerPreferences'>): RegisteredProvider | undefined {
    const candidates = this.availableFor(taskType);
    const wanted = settings.providerPreferences[taskType];
    return candidates.find((p) => p.info.id === wanted) ?? candidates[0];
  }
}

function isAvailable(p: RegisteredProvider): boolean {
  return p.inProcess?.isAvailable?.() ?? true;
}
