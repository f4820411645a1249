/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* D-Bus names and errors of the org.vmmd1 contract (DESIGN.md). */
#pragma once

#define VMMD_BUS_NAME "org.vmmd1"
#define VMMD_MANAGER_PATH "/org/vmmd1"
#define VMMD_VM_PATH_PREFIX "/org/vmmd1/vm"
#define VMMD_MANAGER_INTERFACE "org.vmmd1.Manager"
#define VMMD_VM_INTERFACE "org.vmmd1.VM"

#define VMMD_ERROR_NO_SUCH_VM "org.vmmd1.Error.NoSuchVM"
#define VMMD_ERROR_NO_SUCH_PERSONA "org.vmmd1.Error.NoSuchPersona"
#define VMMD_ERROR_NO_SUCH_SNAPSHOT "org.vmmd1.Error.NoSuchSnapshot"
#define VMMD_ERROR_NO_SUCH_CRASH "org.vmmd1.Error.NoSuchCrash"
#define VMMD_ERROR_INVALID_ARGUMENT "org.vmmd1.Error.InvalidArgument"
#define VMMD_ERROR_INVALID_STATE "org.vmmd1.Error.InvalidState"
#define VMMD_ERROR_EXISTS "org.vmmd1.Error.Exists"
#define VMMD_ERROR_INSUFFICIENT_MEMORY "org.vmmd1.Error.InsufficientMemory"
#define VMMD_ERROR_BUSY "org.vmmd1.Error.Busy"
#define VMMD_ERROR_ACCESS_DENIED "org.vmmd1.Error.AccessDenied"
#define VMMD_ERROR_IMAGE_CORRUPT "org.vmmd1.Error.ImageCorrupt"
#define VMMD_ERROR_NOT_SUPPORTED "org.vmmd1.Error.NotSupported"
#define VMMD_ERROR_FAILED "org.vmmd1.Error.Failed"
